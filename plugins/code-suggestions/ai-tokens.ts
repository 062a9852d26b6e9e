import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock, InstanceKeys } from 'gatehouse';

/** The audience of every token gatehouse mints for the AI gateway (GitLab's `Gitlab::Ai::AccessToken`). */
export const AI_GATEWAY_AUDIENCE = 'gitlab-ai-gateway';
/** GitLab's tokens live one hour. */
export const TOKEN_LIFETIME_S = 3600;
/** `nbf` lies a few seconds before `iat`, absorbing clock skew between gatehouse and the gateway. */
const NOT_BEFORE_SKEW_S = 5;

export interface MintedToken {
  token: string;
  /** Epoch seconds. */
  issuedAt: number;
  expiresAt: number;
}

export interface TokenMinterOptions {
  keys: InstanceKeys;
  issuer: string;
  realm: string;
  clock: Clock;
}

/**
 * Mints the RS256 JWTs the AI gateway verifies against gatehouse's JWKS: `iss` = the external URL,
 * `aud` = `gitlab-ai-gateway`, signed with the instance key (the `kid` of the current key).
 */
export class TokenMinter {
  constructor(private readonly options: TokenMinterOptions) {}

  /** A fresh token for `subject` (the user's global id), valid TOKEN_LIFETIME_S from the clock's now. */
  async mint(subject: string): Promise<MintedToken> {
    const issuedAt = Math.floor(this.options.clock.now().getTime() / 1000);
    const expiresAt = issuedAt + TOKEN_LIFETIME_S;
    const token = await this.options.keys.sign({
      jti: randomUUID(),
      aud: AI_GATEWAY_AUDIENCE,
      iss: this.options.issuer,
      sub: subject,
      iat: issuedAt,
      nbf: issuedAt - NOT_BEFORE_SKEW_S,
      exp: expiresAt,
      third_party_ai_features_enabled: true,
      gitlab_realm: this.options.realm,
      scopes: ['code_suggestions'],
    });
    return { token, issuedAt, expiresAt };
  }
}

/** What the proxy sends upstream for one user: the token and the headers built around it, once. */
export interface UpstreamCredential {
  token: MintedToken;
  /** `Authorization`, `X-Gitlab-Authentication-Type` and the user's identity headers. */
  headers: Readonly<Record<string, string>>;
}

interface Entry {
  credential: Promise<UpstreamCredential>;
  /** Epoch ms after which the entry is not used: a margin before the token's expiry. */
  refreshAtMs: number;
}

/**
 * The proxy's per-user upstream tokens. Signing RS256 on every completion would cost more than the
 * rest of the request, so a token is reused until `refreshMarginS` before it expires — judged by the
 * injected clock, so an expired (or nearly expired) token is never handed out. Bounded (LRU); concurrent
 * requests of one user share one signing; a failed signing is not remembered.
 */
export class UpstreamCredentialCache {
  private readonly entries: LRUCache<number, Entry>;

  constructor(
    private readonly options: {
      clock: Clock;
      max: number;
      refreshMarginS: number;
      build: (userId: number) => Promise<UpstreamCredential>;
    },
  ) {
    this.entries = new LRUCache({ max: options.max });
  }

  get(userId: number): Promise<UpstreamCredential> {
    const now = this.options.clock.now().getTime();
    const hit = this.entries.get(userId);
    if (hit && now < hit.refreshAtMs) return hit.credential;
    // Until the signing settles, its own issue time is unknown: the entry is valid for a lifetime from now.
    const entry: Entry = { credential: this.options.build(userId), refreshAtMs: now + (TOKEN_LIFETIME_S - this.options.refreshMarginS) * 1000 };
    this.entries.set(userId, entry);
    entry.credential.then(
      (credential) => {
        entry.refreshAtMs = (credential.token.expiresAt - this.options.refreshMarginS) * 1000;
      },
      () => {
        if (this.entries.peek(userId) === entry) this.entries.delete(userId);
      },
    );
    return entry.credential;
  }
}
