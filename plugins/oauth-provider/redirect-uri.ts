/**
 * Redirect URI matching as Doorkeeper's `uri_checker.rb` does it, with RFC 8252 §7.3's loopback rule:
 * when both hosts are loopback IP literals the port is ignored (`localhost` is not one).
 */

export const NATIVE_REDIRECT_URI = 'urn:ietf:wg:oauth:2.0:oob';

/** Doorkeeper splits the registered `redirect_uri` on whitespace. */
export const registeredUris = (value: string) => value.split(/\s+/).filter(Boolean);

function parse(uri: string): URL | undefined {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

/** A redirect URI a client may send: absolute, a scheme other than `localhost`, no fragment, a host for http(s). */
export function isValidRedirectUri(uri: string): boolean {
  if (uri === NATIVE_REDIRECT_URI) return true;
  const parsed = parse(uri);
  if (!parsed || uri.includes('#')) return false;
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme === 'localhost' || ['javascript', 'data', 'vbscript'].includes(scheme)) return false;
  if ((scheme === 'http' || scheme === 'https') && !parsed.hostname) return false;
  // Opaque URIs (`mailto:x`) have no authority or absolute path.
  return uri.slice(scheme.length + 1).startsWith('/');
}

function isLoopbackIp(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const pairs = (search: string) => search.replace(/^\?/, '').split('&').filter(Boolean);

/** Whether `requested` matches the registered URI `registered`. */
function matchesOne(requested: string, registered: string): boolean {
  if (requested === registered) return true;
  const a = parse(requested);
  const b = parse(registered);
  if (!a || !b) return false;
  if (a.protocol !== b.protocol || a.hostname !== b.hostname || a.pathname !== b.pathname || a.username !== b.username || a.password !== b.password) {
    return false;
  }
  if (a.port !== b.port && !(isLoopbackIp(a.hostname) && isLoopbackIp(b.hostname))) return false;
  // A registered query must come back with the same pairs, in any order.
  const wanted = pairs(b.search).sort();
  const given = pairs(a.search).sort();
  return wanted.length === given.length && wanted.every((pair, i) => pair === given[i]);
}

/** Whether `requested` is valid and matches one of the registered URIs. */
export function matchesRegistered(requested: string, registered: string): boolean {
  if (!isValidRedirectUri(requested)) return false;
  return registeredUris(registered).some((uri) => matchesOne(requested, uri));
}

/** `redirect_uri` with `params` added to its query (existing query kept, blank values dropped). */
export function withQuery(uri: string, params: Record<string, string | undefined | null>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) if (value) url.searchParams.append(key, value);
  return url.toString();
}
