import { createHmac } from 'node:crypto';
import { constantTimeEqual, hashPassword, pepperedDigest, randomHex, verifyPassword, type Clock, type GatehouseContext, type PluginServices } from 'gatehouse';
import { ProviderRepository, type Session } from './repository.js';

type DirectoryServices = PluginServices['directory'];
export type User = NonNullable<Awaited<ReturnType<DirectoryServices['users']['findById']>>>;

/** GitLab's session cookie name. */
export const SESSION_COOKIE = '_gitlab_session';
/** The browser's CSRF secret: forms carry a token derived from it and from the session. */
export const CSRF_COOKIE = '_gatehouse_csrf';
/** Where to go after signing in (GitLab's `session[:user_return_to]`). */
export const RETURN_TO_COOKIE = '_gatehouse_return_to';

export const INVALID_LOGIN = 'Invalid login or password.';
export const INVALID_TWO_FACTOR = 'Invalid two-factor code.';
export const ACCOUNT_LOCKED = 'Your account is locked.';
/** The password step's proof for the second step (a signed user id and deadline). */
export const TWO_FACTOR_COOKIE = '_gatehouse_two_factor';
const TWO_FACTOR_WINDOW_MS = 5 * 60_000;
export const BLOCKED_LOGIN = 'Your account has been blocked. Please contact your GitLab administrator if you think this is an error.';

/** How often `last_seen_at` is written for one session: idle expiry needs no finer grain. */
const TOUCH_INTERVAL_MS = 60_000;

export interface SessionSettings {
  idleTimeoutMinutes: number;
  absoluteTimeoutHours: number;
  maxLoginAttempts: number;
  lockoutMinutes: number;
  /** `Secure` cookies, when the external URL is https. */
  secureCookies: boolean;
}

export interface SignedInSession {
  session: Session;
  user: User;
}

export type SignInOutcome =
  | { ok: true; user: User; sessionCookie: string }
  | { ok: false; message: string }
  /** The password was right and the user has two-factor authentication: the second step follows. */
  | { ok: 'two-factor'; pendingCookie: string };

/**
 * Browser sessions: a signed, HttpOnly, SameSite=Lax cookie naming a server-side row (so a session is
 * revocable), idle and absolute expiry, sign-in with Devise's lockout, and CSRF tokens bound to the
 * browser's CSRF secret and to the session.
 */
export class SessionsService {
  /** A hash to check passwords of unknown logins against: the answer takes as long as for a real user. */
  private readonly decoy = hashPassword(randomHex(16));

  constructor(
    private readonly repository: ProviderRepository,
    private readonly directory: DirectoryServices,
    private readonly clock: Clock,
    private readonly key: string,
    readonly settings: SessionSettings,
  ) {}

  private sign(value: string): string {
    return `${value}.${createHmac('sha256', this.key).update(value).digest('base64url')}`;
  }

  /** The value of a signed cookie, or undefined when absent or tampered with. */
  private unsign(signed: string | undefined): string | undefined {
    if (!signed) return undefined;
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const value = signed.slice(0, dot);
    return constantTimeEqual(this.sign(value), signed) ? value : undefined;
  }

  private digest(value: string) {
    return pepperedDigest(value, this.key);
  }

  /** A Set-Cookie header value with the session cookies' attributes. */
  cookie(name: string, value: string, maxAgeSeconds?: number): string {
    const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
    if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${maxAgeSeconds}`);
    if (this.settings.secureCookies) parts.push('Secure');
    return parts.join('; ');
  }

  setCookie(ctx: GatehouseContext, name: string, value: string, maxAgeSeconds?: number) {
    ctx.append('Set-Cookie', this.cookie(name, value, maxAgeSeconds));
  }

  clearCookie(ctx: GatehouseContext, name: string) {
    ctx.append('Set-Cookie', this.cookie(name, '', 0));
  }

  /** The signed-in session of the request, if any and still valid; its user must be active. */
  async current(ctx: GatehouseContext): Promise<SignedInSession | undefined> {
    const id = this.unsign(ctx.cookies.get(SESSION_COOKIE));
    if (!id) return undefined;
    const session = await this.repository.findSession(this.digest(id));
    if (!session) return undefined;
    const now = this.clock.now();
    const idleLimit = session.lastSeenAt.getTime() + this.settings.idleTimeoutMinutes * 60_000;
    if (now >= session.expiresAt || now.getTime() >= idleLimit) {
      await this.repository.deleteSession(session.id);
      return undefined;
    }
    const user = await this.directory.users.findById(session.userId);
    // A blocked (or deleted) user's sessions end: the row goes at once.
    if (!user || user.state === 'blocked') {
      await this.repository.deleteSession(session.id);
      return undefined;
    }
    if (now.getTime() - session.lastSeenAt.getTime() >= TOUCH_INTERVAL_MS) await this.repository.touchSession(session.id, now);
    return { session, user };
  }

  /** The browser's CSRF secret, created (and set as a cookie) on first use. */
  csrfSecret(ctx: GatehouseContext): string {
    const existing = this.unsign(ctx.cookies.get(CSRF_COOKIE));
    if (existing) return existing;
    const fresh = randomHex(32);
    this.setCookie(ctx, CSRF_COOKIE, this.sign(fresh));
    // Later reads in this request see it too.
    ctx.request.headers.cookie = `${ctx.request.headers.cookie ? `${ctx.request.headers.cookie}; ` : ''}${CSRF_COOKIE}=${this.sign(fresh)}`;
    return fresh;
  }

  /** The authenticity token forms carry: bound to the browser's secret and to the session (none before sign-in). */
  csrfToken(ctx: GatehouseContext, session?: Session): string {
    const secret = this.csrfSecret(ctx);
    return createHmac('sha256', this.key).update(`csrf|${secret}|${session?.id ?? ''}`).digest('base64url');
  }

  /** Whether the request's `authenticity_token` (or `X-CSRF-Token`) is the one this browser and session were given. */
  verifyCsrf(ctx: GatehouseContext, session?: Session): boolean {
    const secret = this.unsign(ctx.cookies.get(CSRF_COOKIE));
    const sent = ctx.state.params.authenticity_token ?? ctx.get('X-CSRF-Token');
    if (!secret || typeof sent !== 'string' || !sent) return false;
    const expected = createHmac('sha256', this.key).update(`csrf|${secret}|${session?.id ?? ''}`).digest('base64url');
    return constantTimeEqual(expected, sent);
  }

  /** Remembers where to return after sign-in: only a local path. */
  rememberReturnTo(ctx: GatehouseContext, path: string) {
    if (path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/\\')) this.setCookie(ctx, RETURN_TO_COOKIE, this.sign(encodeURIComponent(path)));
  }

  takeReturnTo(ctx: GatehouseContext): string | undefined {
    const value = this.unsign(ctx.cookies.get(RETURN_TO_COOKIE));
    if (!value) return undefined;
    this.clearCookie(ctx, RETURN_TO_COOKIE);
    const path = decodeURIComponent(value);
    return path.startsWith('/') && !path.startsWith('//') ? path : undefined;
  }

  /** The user named by `login`: username or email, case-insensitive. */
  private async findByLogin(login: string): Promise<User | undefined> {
    if (!login) return undefined;
    if (login.includes('@')) return (await this.directory.users.repository.findByEmail(login)) ?? undefined;
    return (await this.directory.users.findByUsername(login)) ?? undefined;
  }

  /**
   * Devise's database authentication with lockable and paranoid mode: unknown users, wrong passwords
   * and locked accounts all answer `Invalid login or password.`; 10 failures lock the account for
   * 10 minutes; a blocked user with the right password is told so.
   */
  async signIn(login: string, password: string, ip: string): Promise<SignInOutcome> {
    const user = await this.findByLogin(login.trim());
    if (!user) {
      await verifyPassword(password, await this.decoy);
      return { ok: false, message: INVALID_LOGIN };
    }
    const now = this.clock.now();
    const lockout = await this.repository.lockoutOf(user.id);
    const lockedUntil = lockout.lockedAt ? lockout.lockedAt.getTime() + this.settings.lockoutMinutes * 60_000 : 0;
    if (lockout.lockedAt && now.getTime() < lockedUntil) return { ok: false, message: INVALID_LOGIN };
    // The lock expired: Devise unlocks and starts counting again.
    if (lockout.lockedAt) await this.repository.resetLockout(user.id);
    if (!(await this.directory.users.checkPassword(user, password))) {
      await this.repository.recordFailure(user.id, this.settings.maxLoginAttempts, now);
      return { ok: false, message: INVALID_LOGIN };
    }
    if (user.state === 'blocked') return { ok: false, message: BLOCKED_LOGIN };
    if (user.twoFactorEnabled) return { ok: 'two-factor', pendingCookie: this.sign(`${user.id}:${now.getTime() + TWO_FACTOR_WINDOW_MS}`) };
    return this.startSession(user, ip);
  }

  /**
   * The second step for users with two-factor authentication, within 5 minutes of the password step:
   * a recovery code (gatehouse holds no OTP secrets), used once. Failures count towards the lockout.
   */
  async signInSecondStep(pendingCookie: string | undefined, code: string, ip: string): Promise<SignInOutcome> {
    const pending = this.unsign(pendingCookie)?.split(':');
    const now = this.clock.now();
    if (!pending || pending.length !== 2 || Number(pending[1]) < now.getTime()) return { ok: false, message: INVALID_LOGIN };
    const user = await this.directory.users.findById(Number(pending[0]));
    if (!user) return { ok: false, message: INVALID_LOGIN };
    if (user.state === 'blocked') return { ok: false, message: BLOCKED_LOGIN };
    const lockout = await this.repository.lockoutOf(user.id);
    if (lockout.lockedAt && now.getTime() < lockout.lockedAt.getTime() + this.settings.lockoutMinutes * 60_000) return { ok: false, message: ACCOUNT_LOCKED };
    if (!code.trim() || !(await this.directory.users.consumeRecoveryCode(user, code))) {
      await this.repository.recordFailure(user.id, this.settings.maxLoginAttempts, now);
      return { ok: false, message: INVALID_TWO_FACTOR };
    }
    return this.startSession(user, ip);
  }

  private async startSession(user: User, ip: string): Promise<SignInOutcome> {
    const now = this.clock.now();
    await this.repository.resetLockout(user.id);
    await this.directory.users.recordSignIn(user, ip);
    // Sessions that outlived their absolute limit without being presented again go now.
    await this.repository.deleteExpiredSessionsOf(user.id, now);
    const id = randomHex(32);
    await this.repository.insertSession({
      digest: this.digest(id),
      userId: user.id,
      now,
      expiresAt: new Date(now.getTime() + this.settings.absoluteTimeoutHours * 3_600_000),
      ip,
    });
    return { ok: true, user, sessionCookie: this.sign(id) };
  }

  async signOut(session: Session): Promise<void> {
    await this.repository.deleteSession(session.id);
  }

  /** Ends every session of a user (blocked, or on demand). */
  endSessionsOf(userId: number): Promise<number> {
    return this.repository.deleteSessionsOf(userId);
  }
}
