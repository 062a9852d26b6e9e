import { routeFor, type GatehouseContext } from 'gatehouse';
import type { OauthProviderServices } from './services.js';
import { INVALID_LOGIN, SESSION_COOKIE, TWO_FACTOR_COOKIE, type SignedInSession } from './sessions.js';
import { OauthError } from './oauth-errors.js';
import type { AuthorizationRequest } from './provider.js';
import { NATIVE_REDIRECT_URI } from './redirect-uri.js';
import { describeScope } from './scopes.js';
import { alert, csrfField, errorBody, escapeHtml, hiddenField, notice, renderPage, scopeList, signedInBody, signInForm, signOutForm, twoFactorForm } from './pages.js';

const route = routeFor<OauthProviderServices>();
const SESSION = { strategy: 'session' } as const;

/** Rails' 422 page: a form posted without the right authenticity token. */
export const CSRF_REJECTED = 'The change you requested was rejected.';
export const DEVICE_AUTHORIZED = 'Device successfully authorized';
export const DEVICE_DENIED = 'Device authorization denied';
export const USER_CODE_INVALID = 'The user code is invalid';
export const USER_CODE_EXPIRED = 'The user code is expired';

/** Flash messages of the device page, by the key its redirect carries (never text from the request). */
const DEVICE_FLASH: Record<string, { text: string; alert: boolean }> = {
  authorized: { text: DEVICE_AUTHORIZED, alert: false },
  denied: { text: DEVICE_DENIED, alert: false },
  invalid: { text: USER_CODE_INVALID, alert: true },
  expired: { text: USER_CODE_EXPIRED, alert: true },
};

const signedIn = (ctx: GatehouseContext): SignedInSession | undefined => {
  const credential = ctx.state.principal?.credential;
  return credential?.type === 'session' ? credential.details : undefined;
};

const redirect = (ctx: GatehouseContext, location: string) => {
  ctx.status = 302;
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(location);
};

/** Sends an anonymous browser to sign in, coming back to this URL (or `returnTo`) afterwards. */
function signInFirst(ctx: GatehouseContext, services: OauthProviderServices, returnTo = ctx.originalUrl) {
  services.sessions.rememberReturnTo(ctx, returnTo);
  redirect(ctx, '/users/sign_in');
}

/** doorkeeper-openid_connect's texts for `prompt=none` refusals. */
export const LOGIN_REQUIRED = 'The authorization server requires end-user authentication.';
export const CONSENT_REQUIRED = 'The authorization server requires end-user consent.';

/** OpenID Connect `max_age`: the user signed in longer ago than the client accepts. */
function signedInTooLongAgo(current: SignedInSession, maxAge: unknown, services: OauthProviderServices): boolean {
  const seconds = typeof maxAge === 'string' && /^\d+$/.test(maxAge) ? Number(maxAge) : undefined;
  if (seconds === undefined) return false;
  return services.provider.now().getTime() - current.session.createdAt.getTime() > seconds * 1000;
}

/** The URL with `login` taken out of `prompt` (the parameter dropped when nothing is left). */
function withoutPromptLogin(url: string): string {
  const parsed = new URL(url, 'http://local');
  const rest = (parsed.searchParams.get('prompt') ?? '').split(' ').filter((p) => p && p !== 'login');
  if (rest.length) parsed.searchParams.set('prompt', rest.join(' '));
  else parsed.searchParams.delete('prompt');
  parsed.searchParams.delete('max_age');
  return `${parsed.pathname}${parsed.search}`;
}

/** The CSRF check of every form; false after answering the refusal page (422). */
function csrfAccepted(ctx: GatehouseContext, services: OauthProviderServices): boolean {
  if (services.sessions.verifyCsrf(ctx, signedIn(ctx)?.session)) return true;
  renderPage(ctx, 'The change you requested was rejected (422)', `<h1>${escapeHtml(CSRF_REJECTED)}</h1><p>Reload the page and try again.</p>`, { status: 422 });
  return false;
}

const csrfFor = (ctx: GatehouseContext, services: OauthProviderServices) => services.sessions.csrfToken(ctx, signedIn(ctx)?.session);

/** Where a form posted from the consent page may be redirected: the client's origin (or its custom scheme). */
function formTargetOf(redirectUri: string): string[] {
  if (redirectUri === NATIVE_REDIRECT_URI) return [];
  try {
    const url = new URL(redirectUri);
    return url.protocol === 'http:' || url.protocol === 'https:' ? [url.origin] : [url.protocol];
  } catch {
    return [];
  }
}

const str = (value: unknown) => (typeof value === 'string' ? value : '');

function signInPage(ctx: GatehouseContext, services: OauthProviderServices, login = '', message?: string) {
  const csrf = csrfFor(ctx, services);
  renderPage(ctx, 'Sign in', signInForm(csrf, login, message), { csrfToken: csrf });
}

function twoFactorPage(ctx: GatehouseContext, services: OauthProviderServices, message?: string) {
  const csrf = csrfFor(ctx, services);
  renderPage(ctx, 'Two-factor authentication', twoFactorForm(csrf, message), { csrfToken: csrf });
}

export const sessionRoutes = [
  route({
    name: 'oauth-provider.sign-in-form',
    method: 'GET',
    path: '/users/sign_in',
    auth: SESSION,
    handler(ctx, _input, services) {
      const current = signedIn(ctx);
      if (!current) return signInPage(ctx, services);
      const csrf = csrfFor(ctx, services);
      renderPage(ctx, 'Signed in', signedInBody(csrf, current.user.username), { csrfToken: csrf });
    },
  }),
  route({
    name: 'oauth-provider.sign-in',
    method: 'POST',
    path: '/users/sign_in',
    auth: SESSION,
    rateLimit: { max: (config) => config.signInRateLimit, windowMs: 60_000, by: 'ip' },
    async handler(ctx, _input, services) {
      if (!csrfAccepted(ctx, services)) return;
      const fields = ctx.state.params.user;
      const user = fields && typeof fields === 'object' ? (fields as Record<string, unknown>) : {};
      const login = str(user.login);
      const secondStep = typeof user.otp_attempt === 'string' && !('login' in user);
      const outcome = secondStep
        ? await services.sessions.signInSecondStep(ctx.cookies.get(TWO_FACTOR_COOKIE), str(user.otp_attempt), ctx.ip)
        : await services.sessions.signIn(login, str(user.password), ctx.ip);
      if (outcome.ok === 'two-factor') {
        services.sessions.setCookie(ctx, TWO_FACTOR_COOKIE, outcome.pendingCookie);
        return twoFactorPage(ctx, services);
      }
      if (!outcome.ok) {
        // A wrong code keeps the user on the second step while its window lasts.
        if (secondStep && outcome.message !== INVALID_LOGIN) return twoFactorPage(ctx, services, outcome.message);
        if (secondStep) services.sessions.clearCookie(ctx, TWO_FACTOR_COOKIE);
        return signInPage(ctx, services, login, outcome.message);
      }
      if (secondStep) services.sessions.clearCookie(ctx, TWO_FACTOR_COOKIE);
      const current = signedIn(ctx);
      if (current) await services.sessions.signOut(current.session);
      services.sessions.setCookie(ctx, SESSION_COOKIE, outcome.sessionCookie);
      redirect(ctx, services.sessions.takeReturnTo(ctx) ?? '/users/sign_in');
    },
  }),
  route({
    name: 'oauth-provider.sign-out',
    method: 'POST',
    path: '/users/sign_out',
    auth: SESSION,
    async handler(ctx, _input, services) {
      if (!csrfAccepted(ctx, services)) return;
      const current = signedIn(ctx);
      if (current) await services.sessions.signOut(current.session);
      services.sessions.clearCookie(ctx, SESSION_COOKIE);
      redirect(ctx, '/users/sign_in');
    },
  }),
];

/** The hidden fields both consent forms carry. */
function authorizationFields(request: AuthorizationRequest, params: Record<string, unknown>) {
  return [
    hiddenField('client_id', request.application.uid),
    hiddenField('redirect_uri', request.redirectUri),
    hiddenField('state', request.state),
    hiddenField('response_type', request.responseType),
    hiddenField('scope', request.scopes.join(' ')),
    hiddenField('nonce', request.nonce),
    hiddenField('code_challenge', request.codeChallenge),
    hiddenField('code_challenge_method', request.codeChallengeMethod),
    hiddenField('gl_auth_type', str(params.gl_auth_type)),
  ].join('');
}

function consentPage(ctx: GatehouseContext, services: OauthProviderServices, request: AuthorizationRequest, params: Record<string, unknown>) {
  const csrf = csrfFor(ctx, services);
  const app = escapeHtml(request.application.name);
  const fields = authorizationFields(request, params) + csrfField(csrf);
  const body = `<h1>Authorize ${app} to use your account?</h1>
<p>An application called <strong>${app}</strong> is requesting access to your account on gatehouse. This application will be able to:</p>
${scopeList(request.scopes, describeScope)}
<p>Make sure you trust <strong>${app}</strong> before authorizing.</p>
<form method="post" action="/oauth/authorize">${fields}<button type="submit">Authorize ${app}</button></form>
<form method="post" action="/oauth/authorize">${fields}<input type="hidden" name="_method" value="delete"><button type="submit">Deny</button></form>`;
  renderPage(ctx, 'Authorize application', body, { csrfToken: csrf, formTargets: formTargetOf(request.redirectUri) });
}

function errorPage(ctx: GatehouseContext, error: OauthError) {
  renderPage(ctx, 'An error has occurred', errorBody(error.code, error.description));
}

/** Approve or deny after the consent page: redirects back with a code or an error; non-redirectable errors are JSON. */
async function decide(ctx: GatehouseContext, services: OauthProviderServices, approve: boolean) {
  const current = signedIn(ctx);
  if (!current) return signInFirst(ctx, services);
  if (!csrfAccepted(ctx, services)) return;
  const params = ctx.state.params;
  let request: AuthorizationRequest;
  try {
    request = await services.provider.validateAuthorization(params);
  } catch (error) {
    if (!(error instanceof OauthError)) throw error;
    if (!error.redirectable) throw error;
    return redirect(ctx, services.provider.errorRedirect(str(params.redirect_uri), error, str(params.state) || undefined));
  }
  if (!approve) return redirect(ctx, services.provider.errorRedirect(request.redirectUri, new OauthError('access_denied'), request.state));
  const { location } = await services.provider.issueCode(request, current.user, current.session.createdAt);
  redirect(ctx, location);
}

export const authorizationRoutes = [
  route({
    name: 'oauth-provider.authorize',
    method: 'GET',
    path: '/oauth/authorize',
    auth: SESSION,
    async handler(ctx, _input, services) {
      const current = signedIn(ctx);
      const params = ctx.state.params;
      const prompts = new Set(str(params.prompt).split(' ').filter(Boolean));
      // OpenID Connect `prompt=none`: never show a page; answer the client instead.
      if (!current && !prompts.has('none')) return signInFirst(ctx, services);
      let request: AuthorizationRequest;
      try {
        request = await services.provider.validateAuthorization(params);
      } catch (error) {
        // GitLab renders every GET error as a page (200), never redirecting back to the client.
        if (error instanceof OauthError) return errorPage(ctx, error);
        throw error;
      }
      if (!current) return redirect(ctx, services.provider.errorRedirect(request.redirectUri, new OauthError('login_required', LOGIN_REQUIRED), request.state));
      if (prompts.has('login') || signedInTooLongAgo(current, params.max_age, services)) {
        // Sign in again, then come back without `prompt=login` (doorkeeper-openid_connect's reauthentication).
        await services.sessions.signOut(current.session);
        services.sessions.clearCookie(ctx, SESSION_COOKIE);
        return signInFirst(ctx, services, withoutPromptLogin(ctx.originalUrl));
      }
      // `prompt=consent` asks for the consent page even where it would be skipped.
      if (prompts.has('consent') || !(await services.provider.skipsConsent(request, current.user))) {
        if (prompts.has('none')) return redirect(ctx, services.provider.errorRedirect(request.redirectUri, new OauthError('consent_required', CONSENT_REQUIRED), request.state));
        return consentPage(ctx, services, request, params);
      }
      const { location } = await services.provider.issueCode(request, current.user, current.session.createdAt);
      const body = `<h1>Redirecting</h1><p><a href="${escapeHtml(location)}">Click here to redirect to ${escapeHtml(request.redirectUri)}</a></p>`;
      renderPage(ctx, 'Redirecting', body, { refreshTo: location });
    },
  }),
  route({
    name: 'oauth-provider.approve',
    method: 'POST',
    path: '/oauth/authorize',
    auth: SESSION,
    async handler(ctx, _input, services) {
      // HTML forms cannot send DELETE: the deny button posts `_method=delete`, as Rails' forms do.
      await decide(ctx, services, str(ctx.state.params._method).toLowerCase() !== 'delete');
    },
  }),
  route({
    name: 'oauth-provider.deny',
    method: 'DELETE',
    path: '/oauth/authorize',
    auth: SESSION,
    async handler(ctx, _input, services) {
      await decide(ctx, services, false);
    },
  }),
  route({
    name: 'oauth-provider.native-code',
    method: 'GET',
    path: '/oauth/authorize/native',
    auth: SESSION,
    handler(ctx) {
      const code = str(ctx.state.params.code);
      renderPage(ctx, 'Authorization code', `<h1>Authorization code</h1><p>Copy this code and switch to your application:</p><pre id="authorization_code">${escapeHtml(code)}</pre>`);
    },
  }),
];

function devicePage(ctx: GatehouseContext, services: OauthProviderServices, userCode: string, flash?: { text: string; alert: boolean }) {
  const csrf = csrfFor(ctx, services);
  const message = flash ? (flash.alert ? alert(flash.text) : notice(flash.text)) : '';
  const body = `<h1>Authorize device to access to your GitLab account.</h1>${message}
<form method="post" action="/oauth/device/confirm">${csrfField(csrf)}
<p><label for="user_code">Device code</label><br><input type="text" id="user_code" name="user_code" value="${escapeHtml(userCode)}" autocomplete="off" required autofocus></p>
<p><button type="submit">Submit</button></p></form>${signOutForm(csrf)}`;
  renderPage(ctx, 'Device authorization', body, { csrfToken: csrf });
}

export const deviceRoutes = [
  route({
    name: 'oauth-provider.device',
    method: 'GET',
    path: '/oauth/device',
    auth: SESSION,
    handler(ctx, _input, services) {
      if (!signedIn(ctx)) return signInFirst(ctx, services);
      const flash = DEVICE_FLASH[str(ctx.state.params.flash)];
      devicePage(ctx, services, str(ctx.state.params.user_code).slice(0, 64), flash);
    },
  }),
  route({
    name: 'oauth-provider.device-confirm',
    method: 'POST',
    path: '/oauth/device/confirm',
    auth: SESSION,
    async handler(ctx, _input, services) {
      if (!signedIn(ctx)) return signInFirst(ctx, services);
      if (!csrfAccepted(ctx, services)) return;
      const found = await services.provider.deviceGrantFor(ctx.state.params.user_code);
      if (typeof found === 'string') return devicePage(ctx, services, '', DEVICE_FLASH[found]);
      const csrf = csrfFor(ctx, services);
      const app = escapeHtml(found.application.name);
      const code = hiddenField('user_code', str(ctx.state.params.user_code).trim().toUpperCase()) + csrfField(csrf);
      const body = `<h1>Authorize ${app} to use your account?</h1>
<p>An application called <strong>${app}</strong> is requesting access to your account on gatehouse from a device. This application will be able to:</p>
${scopeList(found.grant.scopes, describeScope)}
<form method="post" action="/oauth/device">${code}<button type="submit" name="decision" value="authorize">Authorize ${app}</button></form>
<form method="post" action="/oauth/device">${code}<button type="submit" name="decision" value="deny">Deny</button></form>`;
      renderPage(ctx, 'Authorize device', body, { csrfToken: csrf });
    },
  }),
  route({
    name: 'oauth-provider.device-decide',
    method: 'POST',
    path: '/oauth/device',
    auth: SESSION,
    async handler(ctx, _input, services) {
      const current = signedIn(ctx);
      if (!current) return signInFirst(ctx, services);
      if (!csrfAccepted(ctx, services)) return;
      const found = await services.provider.deviceGrantFor(ctx.state.params.user_code);
      if (typeof found === 'string') return redirect(ctx, `/oauth/device?flash=${found}`);
      const deny = str(ctx.state.params.decision) === 'deny';
      const decided = await services.provider.decideDevice(found.grant, deny ? 'denied' : { userId: current.user.id });
      redirect(ctx, `/oauth/device?flash=${!decided ? 'invalid' : deny ? 'denied' : 'authorized'}`);
    },
  }),
];

export const AUTHORIZATION_REVOKED = 'The application was revoked access.';

async function authorizedApplicationsPage(ctx: GatehouseContext, services: OauthProviderServices, current: SignedInSession, message?: string) {
  const csrf = csrfFor(ctx, services);
  const entries = await services.provider.authorizedApplications(current.user.id);
  const rows = entries
    .map(
      ({ application, since }) =>
        `<tr><td>${escapeHtml(application.name)}</td><td>${escapeHtml(since.toISOString())}</td><td>${escapeHtml(application.scopes.join(' '))}</td>` +
        `<td><form method="post" action="/oauth/authorized_applications/${application.id}">${csrfField(csrf)}<input type="hidden" name="_method" value="delete">` +
        `<button type="submit" aria-label="Revoke ${escapeHtml(application.name)}">Revoke</button></form></td></tr>`,
    )
    .join('');
  const table = entries.length
    ? `<table><caption>Authorized applications</caption><thead><tr><th scope="col">Name</th><th scope="col">Authorized at</th><th scope="col">Scope</th><th scope="col">Action</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p>You don\'t have any authorized applications.</p>';
  renderPage(ctx, 'Applications', `<h1>Authorized applications</h1>${notice(message)}${table}`, { csrfToken: csrf });
}

/** Revokes the signed-in user's grant to one application (all its tokens), then shows the list again. */
async function revokeAuthorization(ctx: GatehouseContext, services: OauthProviderServices) {
  const current = signedIn(ctx);
  if (!current) return signInFirst(ctx, services, '/oauth/authorized_applications');
  if (!csrfAccepted(ctx, services)) return;
  const id = /^\d{1,9}$/.test(str(ctx.state.params.id)) ? Number(ctx.state.params.id) : undefined;
  if (id !== undefined) await services.provider.revokeAuthorization(id, current.user.id);
  redirect(ctx, '/oauth/authorized_applications?flash=revoked');
}

/** GitLab's "Authorized applications" (Doorkeeper's authorized_applications): the user revokes a grant. */
export const authorizedApplicationRoutes = [
  route({
    name: 'oauth-provider.authorized-applications',
    method: 'GET',
    path: '/oauth/authorized_applications',
    auth: SESSION,
    async handler(ctx, _input, services) {
      const current = signedIn(ctx);
      if (!current) return signInFirst(ctx, services);
      await authorizedApplicationsPage(ctx, services, current, str(ctx.state.params.flash) === 'revoked' ? AUTHORIZATION_REVOKED : undefined);
    },
  }),
  route({
    name: 'oauth-provider.revoke-authorization',
    method: 'POST',
    path: '/oauth/authorized_applications/:id',
    auth: SESSION,
    handler: (ctx, _input, services) => revokeAuthorization(ctx, services),
  }),
  route({
    name: 'oauth-provider.revoke-authorization-delete',
    method: 'DELETE',
    path: '/oauth/authorized_applications/:id',
    auth: SESSION,
    handler: (ctx, _input, services) => revokeAuthorization(ctx, services),
  }),
];
