/**
 * Shared helpers for the OAuth provider tests: a cookie-keeping form client (what a browser does,
 * without following redirects), GitLab's exact strings, PKCE, and a signed-in user with an application.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ROOT_TOKEN, type TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

export const PASSWORD = 'correct-horse-battery';
export const INVALID_LOGIN = 'Invalid login or password.';
export const BLOCKED_LOGIN = 'Your account has been blocked. Please contact your GitLab administrator if you think this is an error.';
export const HEX64 = /^[0-9a-f]{64}$/;
export const REDIRECT = 'https://client.example.com/callback';

export const DESCRIPTIONS = {
  invalid_client: 'Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.',
  invalid_redirect_uri: 'The redirect URI included is not valid.',
  invalid_scope: 'The requested scope is invalid, unknown, or malformed.',
  unsupported_response_type: 'The authorization server does not support this response type.',
  invalid_code_challenge_method: 'The code_challenge_method must be one of plain, S256.',
  invalid_grant:
    'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.',
  access_denied: 'The resource owner or authorization server denied the request.',
  unsupported_grant_type: 'The authorization grant type is not supported by the authorization server.',
  server_error: 'The authorization server encountered an unexpected condition which prevented it from fulfilling the request.',
} as const;

export const oauthError = (error: keyof typeof DESCRIPTIONS | string, description?: string) => ({
  error,
  error_description: description ?? DESCRIPTIONS[error as keyof typeof DESCRIPTIONS],
});
export const missing = (name: string) => `Missing required parameter: ${name}.`;

export interface PageResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  location: string | null;
}

/** A browser without JavaScript: keeps cookies, never follows redirects, reads CSRF tokens from pages. */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  private cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: string, path: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<PageResponse> {
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    const response = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        ...(this.cookies.size ? { cookie: this.cookieHeader() } : {}),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (attributes.some((a) => /^\s*max-age=0$/i.test(a)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json, location: response.headers.get('location') };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  post(path: string, form: Record<string, string>) {
    return this.request('POST', path, form);
  }

  /** The CSRF token of a page. */
  static csrf(page: PageResponse): string {
    const match = /name="authenticity_token" value="([^"]+)"/.exec(page.text);
    if (!match) throw new Error(`no authenticity_token in page: ${page.status} ${page.text.slice(0, 300)}`);
    return match[1];
  }

  /** Signs in through the form; returns the POST's response. */
  async signIn(login: string, password = PASSWORD) {
    const form = await this.get('/users/sign_in');
    return this.post('/users/sign_in', { authenticity_token: Browser.csrf(form), 'user[login]': login, 'user[password]': password, 'user[remember_me]': '0' });
  }
}

/** The hidden fields of the first form posting to `action` on a page. */
export function formFields(page: PageResponse, index = 0): Record<string, string> {
  const forms = [...page.text.matchAll(/<form[^>]*>([\s\S]*?)<\/form>/g)];
  const form = forms[index]?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = unescape(m[2]);
  return fields;
}

const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface ClientApp {
  id: number;
  application_id: string;
  secret: string;
  confidential: boolean;
  trusted: boolean;
  device_code_enabled: boolean;
}

/** An application registered by `token`'s user through the API. */
export async function registerApp(app: TestApp, token: string, body: Record<string, unknown> = {}): Promise<ClientApp> {
  const response = await app.request('/api/v4/user/applications', {
    method: 'POST',
    token,
    body: { name: 'Review app', redirect_uri: REDIRECT, scopes: 'api read_user openid profile email', ...body },
  });
  if (response.status !== 201) throw new Error(`registerApp: ${response.status} ${response.text}`);
  return response.body;
}

/** An instance-wide application registered by root (admin API: may be trusted). */
export async function registerInstanceApp(app: TestApp, body: Record<string, unknown> = {}): Promise<ClientApp> {
  const response = await app.request('/api/v4/applications', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { name: 'Instance app', redirect_uri: REDIRECT, scopes: 'api read_user openid', ...body },
  });
  if (response.status !== 201) throw new Error(`registerInstanceApp: ${response.status} ${response.text}`);
  return response.body;
}

/** A user (with a PAT, for registering applications) and a browser signed in as them. */
export async function signedInUser(app: TestApp, options: { admin?: boolean } = {}) {
  const { user, plaintext } = await createUserWithToken(app, ['api'], options);
  const browser = new Browser(app.url);
  const signIn = await browser.signIn(user.username);
  if (signIn.status !== 302) throw new Error(`sign in failed: ${signIn.status} ${signIn.text.slice(0, 300)}`);
  return { user, pat: plaintext, browser };
}

export const authorizePath = (params: Record<string, string | undefined>) => {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
  return `/oauth/authorize?${query}`;
};

/** Runs the code flow through the consent page: returns the code (and the redirect). */
export async function authorize(browser: Browser, client: ClientApp, options: { scope?: string; state?: string; pkce?: { challenge: string; method?: string }; redirectUri?: string; nonce?: string } = {}) {
  const page = await browser.get(
    authorizePath({
      client_id: client.application_id,
      redirect_uri: options.redirectUri ?? REDIRECT,
      response_type: 'code',
      scope: options.scope ?? 'api',
      state: options.state ?? 'xyz',
      code_challenge: options.pkce?.challenge,
      code_challenge_method: options.pkce ? (options.pkce.method ?? 'S256') : undefined,
      nonce: options.nonce,
    }),
  );
  if (page.status !== 200) throw new Error(`authorize page: ${page.status} ${page.text.slice(0, 300)}`);
  let location: string;
  if (page.text.includes('<title>Redirecting</title>')) {
    location = unescape(/url=([^"]+)"/.exec(page.text)![1]);
  } else {
    const approved = await browser.post('/oauth/authorize', formFields(page, 0));
    if (approved.status !== 302) throw new Error(`approve: ${approved.status} ${approved.text.slice(0, 300)}`);
    location = approved.location!;
  }
  const url = new URL(location);
  return { code: url.searchParams.get('code')!, state: url.searchParams.get('state'), location };
}

export async function tokenRequest(app: TestApp, form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(`${app.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
}

export const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

/** A fresh token pair for a signed-in user and their confidential application. */
export async function issueTokens(app: TestApp, browser: Browser, client: ClientApp, scope = 'api') {
  const { code } = await authorize(browser, client, { scope });
  const response = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: client.application_id, client_secret: client.secret });
  if (response.status !== 200) throw new Error(`token: ${response.status} ${response.text}`);
  return response.body as { access_token: string; refresh_token: string; scope: string; expires_in: number; created_at: number; id_token?: string };
}
