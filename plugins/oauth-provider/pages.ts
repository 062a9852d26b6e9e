/**
 * The provider's web pages: plain server-rendered HTML, no script, every form with its CSRF token,
 * labelled fields. Each answer carries `X-Frame-Options: DENY` and a strict Content-Security-Policy.
 */
import type { GatehouseContext } from 'gatehouse';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: unknown) => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);

/** What a page may load and where its forms may go (`formTargets`: origins a form's answer may redirect to). */
function contentSecurityPolicy(formTargets: readonly string[]) {
  return [
    "default-src 'none'",
    "style-src 'self'",
    "img-src 'self'",
    `form-action 'self'${formTargets.map((t) => ` ${t}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export interface PageOptions {
  status?: number;
  /** Origins (or `scheme:`) a form on the page may be redirected to after it is posted. */
  formTargets?: readonly string[];
  /** `<meta http-equiv="refresh">` target. */
  refreshTo?: string;
  csrfToken?: string;
}

/** Renders a page: title, body HTML (already escaped), security headers. */
export function renderPage(ctx: GatehouseContext, title: string, body: string, options: PageOptions = {}) {
  ctx.status = options.status ?? 200;
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Content-Security-Policy', contentSecurityPolicy(options.formTargets ?? []));
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'strict-origin-when-cross-origin');
  ctx.type = 'text/html; charset=utf-8';
  const meta = [
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    options.csrfToken ? `<meta name="csrf-token" content="${escapeHtml(options.csrfToken)}">` : '',
    options.refreshTo ? `<meta http-equiv="refresh" content="0; url=${escapeHtml(options.refreshTo)}">` : '',
  ].join('');
  ctx.body = `<!DOCTYPE html>\n<html lang="en"><head>${meta}<title>${escapeHtml(title)}</title></head><body><main>${body}</main></body></html>\n`;
}

/** A hidden CSRF field. */
export const csrfField = (token: string) => `<input type="hidden" name="authenticity_token" value="${escapeHtml(token)}">`;
export const hiddenField = (name: string, value: unknown) =>
  value === undefined || value === null || value === '' ? '' : `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
export const alert = (message: string | undefined) => (message ? `<p role="alert" class="flash-alert">${escapeHtml(message)}</p>` : '');
export const notice = (message: string | undefined) => (message ? `<p role="status" class="flash-notice">${escapeHtml(message)}</p>` : '');

export function signInForm(csrf: string, login: string, message?: string) {
  return `<h1>Sign in</h1>${alert(message)}
<form method="post" action="/users/sign_in" accept-charset="UTF-8">${csrfField(csrf)}
<p><label for="user_login">Username or primary email</label><br><input type="text" id="user_login" name="user[login]" value="${escapeHtml(login)}" autocomplete="username" required autofocus></p>
<p><label for="user_password">Password</label><br><input type="password" id="user_password" name="user[password]" autocomplete="current-password" required></p>
<p><input type="hidden" name="user[remember_me]" value="0"><input type="checkbox" id="user_remember_me" name="user[remember_me]" value="1"> <label for="user_remember_me">Remember me</label></p>
<p><button type="submit" name="commit" value="Sign in">Sign in</button></p>
</form>`;
}

/** The second sign-in step of users with two-factor authentication (GitLab's `user[otp_attempt]`). */
export function twoFactorForm(csrf: string, message?: string) {
  return `<h1>Two-factor authentication</h1>${alert(message)}
<form method="post" action="/users/sign_in" accept-charset="UTF-8">${csrfField(csrf)}
<p><label for="user_otp_attempt">Enter a two-factor recovery code</label><br><input type="text" id="user_otp_attempt" name="user[otp_attempt]" autocomplete="one-time-code" required autofocus></p>
<p><button type="submit">Verify code</button></p>
</form>`;
}

export function signedInBody(csrf: string, username: string) {
  return `<h1>Signed in</h1><p>You are signed in as <strong>${escapeHtml(username)}</strong>.</p>${signOutForm(csrf)}`;
}

export const signOutForm = (csrf: string) =>
  `<form method="post" action="/users/sign_out">${csrfField(csrf)}<button type="submit">Sign out</button></form>`;

/** Doorkeeper's error page: the description in a `<pre>`. */
export function errorBody(error: string, description: string) {
  return `<h1>An error has occurred</h1><p>Client authentication failed or the request was invalid.</p><pre id="error-description">${escapeHtml(description)}</pre><p><code>${escapeHtml(error)}</code></p>`;
}

export function scopeList(scopes: readonly string[], describe: (scope: string) => string) {
  return `<ul class="scopes">${scopes.map((s) => `<li><strong>${escapeHtml(s)}</strong>: ${escapeHtml(describe(s))}</li>`).join('')}</ul>`;
}
