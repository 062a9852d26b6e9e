/**
 * The model rules of an OAuth application (Doorkeeper's Application model as GitLab configures it),
 * with their error texts. Errors are collected per attribute in the model's order (name,
 * redirect_uri, scopes) and rendered as `{"message":{"redirect_uri":["must be a valid URI."]}}`.
 */

export const CANT_BE_BLANK = "can't be blank";
export const INVALID_URI = 'must be a valid URI.';
export const FORBIDDEN_URI = 'is forbidden by the server.';
export const FRAGMENT_PRESENT = 'cannot contain a fragment.';
export const SCOPES_NOT_CONFIGURED = "doesn't match configured on the server.";
export const tooLong = (max: number) => `is too long (maximum is ${max} characters)`;

/** The `name` column's width. */
export const MAX_NAME_LENGTH = 255;
/** All redirect URIs together (one per line): room for many review environments, a bound on what is stored. */
export const MAX_REDIRECT_URI_LENGTH = 4096;

/** GitLab's `forbid_redirect_uri`: schemes that would run code in the browser instead of redirecting. */
const FORBIDDEN_SCHEMES = new Set(['javascript', 'data', 'vbscript']);
/** The out-of-band "redirect URIs" of native apps, which Doorkeeper accepts as they are. */
const OOB_URIS = new Set(['urn:ietf:wg:oauth:2.0:oob', 'urn:ietf:wg:oauth:2.0:oob:auto']);
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** RFC 3986's characters (Ruby's URI.parse refuses anything else, where WHATWG URL would percent-encode it). */
const URI_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

/** Doorkeeper splits `redirect_uri` on whitespace: one URI per line (or per space). */
export const redirectUris = (value: string) => value.split(/\s+/).filter(Boolean);

/**
 * The errors of one `redirect_uri` value: a forbidden scheme is reported as such; anything that is
 * not an absolute URI with a scheme and a `//` or `/` path (relative, opaque like `localhost:3000`,
 * unparsable) is "must be a valid URI."; a fragment is refused as OAuth 2.0 requires.
 */
export function redirectUriErrors(value: string): string[] {
  const errors: string[] = [];
  const add = (message: string) => {
    if (!errors.includes(message)) errors.push(message);
  };
  if (!value.trim()) return [CANT_BE_BLANK];
  if (value.length > MAX_REDIRECT_URI_LENGTH) add(tooLong(MAX_REDIRECT_URI_LENGTH));
  for (const uri of redirectUris(value)) {
    if (OOB_URIS.has(uri)) continue;
    const scheme = SCHEME.exec(uri)?.[1].toLowerCase();
    if (scheme && FORBIDDEN_SCHEMES.has(scheme)) {
      add(FORBIDDEN_URI);
      continue;
    }
    if (!scheme || scheme === 'localhost' || !uri.slice(scheme.length + 1).startsWith('/') || !URI_CHARACTERS.test(uri) || !parses(uri)) {
      add(INVALID_URI);
      continue;
    }
    if (uri.includes('#')) add(FRAGMENT_PRESENT);
  }
  return errors;
}

function parses(uri: string): boolean {
  try {
    new URL(uri);
    return true;
  } catch {
    return false;
  }
}

export function nameErrors(name: string): string[] {
  if (!name.trim()) return [CANT_BE_BLANK];
  return name.length > MAX_NAME_LENGTH ? [tooLong(MAX_NAME_LENGTH)] : [];
}

/** Doorkeeper's `scopes_match_configured`: every scope must be one the server knows. */
export function scopeErrors(scopes: readonly string[], known: ReadonlySet<string>): string[] {
  return scopes.every((scope) => known.has(scope)) ? [] : [SCOPES_NOT_CONFIGURED];
}
