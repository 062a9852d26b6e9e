import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock, InstanceKeys, Principal } from 'gatehouse';

/** Identity headers gatehouse sets for `identity: "headers"`; whatever a caller sent under these names is dropped. */
export const USER_ID_HEADER = 'x-gatehouse-user-id';
export const USERNAME_HEADER = 'x-gatehouse-username';
export const SCOPES_HEADER = 'x-gatehouse-scopes';
/** A token is renewed this long before it expires, so none near its end is ever sent. */
const REFRESH_MARGIN_S = 60;

/** The scopes of the credential that authenticated the caller (empty for credentials without scopes). */
export function scopesOf(principal: Principal | undefined): readonly string[] {
  const scopes = (principal?.credential?.details as { scopes?: unknown } | undefined)?.scopes;
  return Array.isArray(scopes) ? (scopes as string[]) : [];
}

interface Entry {
  /** `Bearer <token>`: the header value, built once per token rather than once per request. */
  authorization: Promise<string>;
  /** The header value once the token is signed: handed out without a promise to wait on. */
  signed?: string;
  /** Epoch ms after which the entry is not used. */
  refreshAtMs: number;
}

/**
 * The identity JWTs of one proxy route: RS256 with the instance key, `iss` = external URL, `aud` = the
 * route name, `sub` = user id, `username`, `scopes`, `admin`, short-lived. Signing costs more than the
 * rest of a relayed request, so a caller's token is reused until shortly before it expires (by the
 * injected clock). Keyed by user and credential, since the scopes come from the credential; bounded
 * (LRU); concurrent requests share one signing; a failed signing is not remembered.
 */
export class IdentityTokens {
  private readonly entries: LRUCache<string, Entry>;

  constructor(
    private readonly options: { keys: InstanceKeys; issuer: string; audience: string; lifetimeS: number; clock: Clock; max: number },
  ) {
    this.entries = new LRUCache({ max: options.max });
  }

  /**
   * The caller's `Authorization` value (`Bearer <token>`): a string when one is at hand, a promise
   * while the token is being signed, undefined without a user.
   */
  authorizationFor(principal: Principal): string | Promise<string> | undefined {
    const user = principal.user;
    if (!user) return undefined;
    const credential = principal.credential;
    const key = credential ? `${user.id}:${credential.type}:${credential.id}` : `${user.id}`;
    const now = this.options.clock.now().getTime();
    const hit = this.entries.get(key);
    if (hit && now < hit.refreshAtMs) return hit.signed ?? hit.authorization;
    const issuedAt = Math.floor(now / 1000);
    const expiresAt = issuedAt + this.options.lifetimeS;
    const entry: Entry = {
      authorization: this.options.keys.sign({
        iss: this.options.issuer,
        aud: this.options.audience,
        sub: String(user.id),
        username: user.username,
        scopes: scopesOf(principal),
        admin: user.isAdmin,
        jti: randomUUID(),
        iat: issuedAt,
        exp: expiresAt,
      }).then((token) => `Bearer ${token}`),
      refreshAtMs: (expiresAt - Math.min(REFRESH_MARGIN_S, this.options.lifetimeS / 2)) * 1000,
    };
    this.entries.set(key, entry);
    entry.authorization.then(
      (authorization) => void (entry.signed = authorization),
      () => {
        if (this.entries.peek(key) === entry) this.entries.delete(key);
      },
    );
    return entry.authorization;
  }
}
