import { ModelValidationError, constantTimeEqual, pepperedDigest, randomHex, type Knex, type Clock } from 'gatehouse';
import { ApplicationsRepository, type Application, type ApplicationChanges } from './repository.js';
import { nameErrors, redirectUriErrors, scopeErrors } from './validation.js';

/** GitLab's client secret prefix (`gloas-` + 64 hex characters). */
export const SECRET_PREFIX = 'gloas-';

/**
 * The scopes an application may ask for besides those of personal access tokens: GitLab's Doorkeeper
 * also offers the OpenID Connect scopes, which review apps logging users in ask for.
 */
export const OPENID_SCOPES = ['openid', 'profile', 'email'] as const;

/**
 * GitLab's `ADMIN_SCOPES`: only administrators may give them to an application
 * (`available_scopes_for(user)`); anyone else is answered as for a scope the server does not know.
 */
export const ADMIN_SCOPES = ['sudo', 'admin_mode'] as const;

/** Who asks for a change: what they may grant depends on whether they are an administrator. */
export interface Caller {
  isAdmin: boolean;
}

/** What an application is created from (the API's `name`, `redirect_uri`, `scopes`, `confidential`). */
export interface NewApplication {
  name: string;
  redirectUri: string;
  scopes: readonly string[];
  confidential: boolean;
  /** Admins only (`POST|PUT /applications`); default false. */
  trusted?: boolean;
  /** Default false for new applications, as in GitLab 19. */
  deviceCodeEnabled?: boolean;
}

/** What changed about an application, for the code that keeps state derived from it (the OAuth provider's tokens). */
export type ApplicationEvent = { type: 'deleted' | 'secret-renewed' | 'updated'; application: Application };
export type ApplicationListener = (event: ApplicationEvent) => Promise<void> | void;

/** What the service is built from: the database, the clock, the secret pepper and the tokens plugin's scopes. */
export interface ApplicationsServiceOptions {
  db: Knex;
  clock: Clock;
  pepper: string;
  /** The scopes the tokens plugin knows (`all_available_scopes`). */
  tokenScopes: readonly string[];
}

/** An application with the plaintext secret it was just given: only create and renew return one. */
export interface ApplicationWithSecret {
  application: Application;
  secret: string;
}

/**
 * OAuth applications: user-owned and instance-wide ones. Validates as GitLab's model does, stores
 * only a peppered digest of each client secret and hands the plaintext out once.
 */
export class ApplicationsService {
  readonly repository: ApplicationsRepository;
  /** Every scope an application may carry. */
  readonly availableScopes: ReadonlySet<string>;
  /** The scopes a user who is not an administrator may give an application. */
  readonly nonAdminScopes: ReadonlySet<string>;
  private readonly db: Knex;
  private readonly clock: Clock;
  private readonly pepper: string;
  private readonly listeners: ApplicationListener[] = [];

  constructor(options: ApplicationsServiceOptions) {
    this.db = options.db;
    this.clock = options.clock;
    this.pepper = options.pepper;
    this.repository = new ApplicationsRepository(options.db);
    this.availableScopes = new Set([...options.tokenScopes, ...OPENID_SCOPES]);
    const adminScopes = new Set<string>(ADMIN_SCOPES);
    this.nonAdminScopes = new Set([...this.availableScopes].filter((scope) => !adminScopes.has(scope)));
  }

  /**
   * Runs `listener` after a committed delete, secret renewal or update, before the request is answered:
   * the OAuth provider revokes the application's tokens on every instance there.
   */
  onChange(listener: ApplicationListener): void {
    this.listeners.push(listener);
  }

  private async announce(event: ApplicationEvent): Promise<void> {
    for (const listener of this.listeners) await listener(event);
  }

  /** The scopes `caller` may give an application. */
  grantableBy(caller: Caller): ReadonlySet<string> {
    return caller.isAdmin ? this.availableScopes : this.nonAdminScopes;
  }

  digest(secret: string): string {
    return pepperedDigest(secret, this.pepper);
  }

  findById(id: number): Promise<Application | undefined> {
    return this.repository.findById(id);
  }

  /** Creates an application for `ownerId` (null: instance-wide) with a new client id and secret. */
  async create(caller: Caller, ownerId: number | null, input: NewApplication): Promise<ApplicationWithSecret> {
    this.validate(input, this.grantableBy(caller));
    const secret = newSecret();
    const application = await this.repository.insert({
      ownerId,
      name: input.name,
      // 256 random bits, like Doorkeeper's uid; the unique index makes a (never seen) collision fail loudly.
      uid: randomHex(32),
      secretDigest: this.digest(secret),
      redirectUri: input.redirectUri,
      scopes: dedupe(input.scopes),
      confidential: input.confidential,
      trusted: input.trusted ?? false,
      deviceCodeEnabled: input.deviceCodeEnabled ?? false,
      now: this.clock.now(),
    });
    return { application, secret };
  }

  /**
   * Changes name, redirect URIs, scopes or confidentiality, validating the result as a whole. New
   * scopes must be ones `caller` may grant; scopes left as they are were granted before and stay.
   */
  async update(caller: Caller, application: Application, changes: ApplicationChanges): Promise<Application> {
    const merged = {
      name: changes.name ?? application.name,
      redirectUri: changes.redirectUri ?? application.redirectUri,
      scopes: changes.scopes ?? application.scopes,
      confidential: changes.confidential ?? application.confidential,
    };
    this.validate(merged, changes.scopes ? this.grantableBy(caller) : this.availableScopes);
    const scopes = changes.scopes && dedupe(changes.scopes);
    const updated = await this.db.transaction(async (trx) => {
      await this.repository.update(application.id, { ...changes, scopes }, this.clock.now(), trx);
      return (await this.repository.findById(application.id, trx))!;
    });
    await this.announce({ type: 'updated', application: updated });
    return updated;
  }

  /** A new secret; the old one stops matching at once (its digest is overwritten). */
  async renewSecret(application: Application): Promise<ApplicationWithSecret> {
    const secret = newSecret();
    const renewed = await this.db.transaction(async (trx) => {
      await this.repository.replaceSecretDigest(application.id, this.digest(secret), this.clock.now(), trx);
      return { application: (await this.repository.findById(application.id, trx))!, secret };
    });
    await this.announce({ type: 'secret-renewed', application: renewed.application });
    return renewed;
  }

  /**
   * Deletes an application. One statement: what references it (OAuth grants and tokens, once they
   * exist) goes with it through ON DELETE CASCADE, atomically.
   */
  async delete(application: Application): Promise<void> {
    await this.repository.delete(application.id);
    await this.announce({ type: 'deleted', application });
  }

  listOwned(ownerId: number, page: { offset: number; limit: number }) {
    return this.repository.listOwned(ownerId, page);
  }

  listInstance(): Promise<Application[]> {
    return this.repository.listInstance();
  }

  /**
   * The application with this client id whose secret is `secret`, or undefined: how the OAuth
   * provider authenticates a client. Compared in constant time, on digests.
   */
  findByUid(uid: string): Promise<Application | undefined> {
    return this.repository.findByUid(uid);
  }

  async authenticateClient(uid: string, secret: string): Promise<Application | undefined> {
    const application = await this.repository.findByUid(uid);
    const stored = application && (await this.repository.secretDigestOf(application.id));
    if (!application || !stored) return undefined;
    return constantTimeEqual(this.digest(secret), stored) ? application : undefined;
  }

  /** GitLab's model validations, every failing attribute at once, in the model's order. */
  private validate(input: NewApplication, grantableScopes: ReadonlySet<string>): void {
    const fields: Record<string, string[]> = {};
    const check = (attribute: string, errors: string[]) => {
      if (errors.length) fields[attribute] = errors;
    };
    check('name', nameErrors(input.name));
    check('redirect_uri', redirectUriErrors(input.redirectUri));
    check('scopes', scopeErrors(input.scopes, grantableScopes));
    if (Object.keys(fields).length) throw new ModelValidationError(fields);
  }
}

const newSecret = () => `${SECRET_PREFIX}${randomHex(32)}`;

/** Doorkeeper's scope set keeps each scope once, in the order given. */
const dedupe = (scopes: readonly string[]) => [...new Set(scopes)];
