import { randomBytes } from 'node:crypto';
import {
  ModelValidationError,
  ServiceError,
  hashPassword,
  pepperedDigest,
  randomHex,
  verifyPassword,
  uniqueViolation,
  type Knex,
  type Clock,
} from 'gatehouse';
import { UsersRepository, type User, type UserChanges, type UserCursor, type UserFilter, type UserOrder } from './users-repository.js';
import { KeysRepository } from './keys-repository.js';
import { NamespacesRepository } from './namespaces-repository.js';
import { ProjectsRepository } from './projects-repository.js';
import { changedKey, changedNamespace, changedProject, changedUser, type DirectoryCache } from './read-cache.js';
import type { UserAdminDetails } from './presenter.js';
import type { Removal } from './removal.js';

const USERNAME = /^[a-zA-Z0-9_.][a-zA-Z0-9_.-]*$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
export const MIN_PASSWORD_LENGTH = 8;
/** The User model's length limit on name and email (and the width of their columns). */
export const MAX_USER_STRING_LENGTH = 255;
export const TOO_LONG = `is too long (maximum is ${MAX_USER_STRING_LENGTH} characters)`;
const RECOVERY_CODE_COUNT = 10;
export const USERNAME_TAKEN = 'Username has already been taken';
export const EMAIL_TAKEN = 'Email has already been taken';

export interface CreateUserInput {
  username: string;
  name: string;
  email: string;
  password?: string;
  forceRandomPassword?: boolean;
  isAdmin?: boolean;
  publicEmail?: string | null;
  external?: boolean;
  note?: string | null;
  /** The admin creating the user (GitLab's `created_by`). */
  createdById?: number | null;
  /** The personal namespace's Code Suggestions switch (default on). */
  codeSuggestions?: boolean;
}

export interface UpdateUserInput {
  username?: string;
  name?: string;
  email?: string;
  password?: string;
  isAdmin?: boolean;
  /** An empty string clears it, as GitLab stores a blank public email as none. */
  publicEmail?: string | null;
  external?: boolean;
  note?: string | null;
  twoFactorEnabled?: boolean;
  /** The personal namespace's Code Suggestions switch. */
  codeSuggestions?: boolean;
}

/** GitLab keeps a blank public email as none. */
const blankAsNull = (value: string | null | undefined) => (value === undefined || value === null || value.trim() === '' ? null : value);

/** Users: creation with scrypt passwords, updates, block/unblock, deletion, 2FA recovery codes. */
export class UsersService {
  readonly repository: UsersRepository;

  constructor(
    private readonly db: Knex,
    private readonly clock: Clock,
    private readonly pepper: string,
    private readonly cache: DirectoryCache,
    private readonly removal: Removal,
  ) {
    this.repository = new UsersRepository(db);
  }

  findById(id: number) {
    return this.cache.get(`user:${id}`, () => this.repository.findById(id));
  }

  findByUsername(username: string) {
    return this.cache.get(`username:${username.toLowerCase()}`, () => this.repository.findByUsername(username));
  }

  /** A user by numeric id or by username, as GitLab's `find_user` reads `:user_id`. */
  findByIdOrUsername(idOrUsername: string) {
    return /^\d+$/.test(idOrUsername) ? this.findById(Number(idOrUsername)) : this.findByUsername(idOrUsername);
  }

  count() {
    return this.repository.count();
  }

  list(filter: UserFilter, page: { offset: number; limit: number }, order?: UserOrder | 'search') {
    return this.repository.list(filter, page, order);
  }

  listKeyset(filter: UserFilter, order: UserOrder, limit: number, after?: UserCursor, backwards?: boolean) {
    return this.repository.listKeyset(filter, order, limit, after, backwards);
  }

  /** What admin entities show from other rows, for each of these users (two queries for any number). */
  async adminDetails(users: readonly User[]): Promise<Map<number, UserAdminDetails>> {
    const ids = users.map((user) => user.id);
    const creatorIds = [...new Set(users.flatMap((user) => (user.createdById === null ? [] : [user.createdById])))];
    const [namespaceIds, creators] = await Promise.all([
      new NamespacesRepository(this.db).userNamespaceIds(ids),
      this.repository.findByIds(creatorIds),
    ]);
    return new Map(
      users.map((user) => [
        user.id,
        { namespaceId: namespaceIds.get(user.id) ?? null, createdBy: creators.find((creator) => creator.id === user.createdById) ?? null },
      ]),
    );
  }

  highestRole(userId: number) {
    return this.repository.highestRole(userId);
  }

  private validate(input: { username?: string; email?: string; name?: string; password?: string }) {
    const errors: Record<string, string[]> = {};
    if (input.username !== undefined && (!USERNAME.test(input.username) || input.username.endsWith('.') || input.username.length > 255)) {
      errors.username = ['can contain only letters, digits, \'_\', \'-\' and \'.\'. Cannot start with \'-\' or end in \'.\', \'.git\' or \'.atom\'.'];
    }
    if (input.email !== undefined && !EMAIL.test(input.email)) errors.email = ['is invalid'];
    else if (input.email !== undefined && input.email.length > MAX_USER_STRING_LENGTH) errors.email = [TOO_LONG];
    if (input.name !== undefined && input.name.trim() === '') errors.name = ["can't be blank"];
    else if (input.name !== undefined && input.name.length > MAX_USER_STRING_LENGTH) errors.name = [TOO_LONG];
    if (input.password !== undefined && input.password.length < MIN_PASSWORD_LENGTH) {
      errors.password = [`is too short (minimum is ${MIN_PASSWORD_LENGTH} characters)`];
    }
    if (Object.keys(errors).length) throw new ModelValidationError(errors);
  }

  /** Email and username clashes are 409 with GitLab's messages; GitLab checks the email first. */
  private async ensureUnique(input: { username?: string; email?: string }, exceptId: number | undefined, trx: Knex) {
    if (input.email !== undefined) {
      const clash = await this.repository.findByEmail(input.email, trx);
      if (clash && clash.id !== exceptId) throw new ServiceError(409, EMAIL_TAKEN);
    }
    if (input.username !== undefined) {
      const clash = await this.repository.findByUsername(input.username, trx);
      if (clash && clash.id !== exceptId) throw new ServiceError(409, USERNAME_TAKEN);
    }
  }

  async create(input: CreateUserInput): Promise<User> {
    this.validate(input);
    const password = input.password ?? randomHex(24);
    const passwordHash = await hashPassword(password);
    const created = await this.asTakenOnRace(() => this.db.transaction(async (trx) => {
      await this.ensureUnique(input, undefined, trx);
      const user = await this.repository.insert(
        {
          username: input.username,
          name: input.name,
          email: input.email,
          publicEmail: blankAsNull(input.publicEmail),
          isAdmin: input.isAdmin ?? false,
          external: input.external,
          note: input.note,
          createdById: input.createdById,
          passwordHash,
          now: this.clock.now(),
        },
        trx,
      );
      // Every user owns a personal namespace (GitLab's user namespace), home of their own projects.
      await new NamespacesRepository(trx).insertUserNamespace(user, this.clock.now(), trx, input.codeSuggestions ?? true);
      return user;
    }));
    await this.changed(created.id);
    return created;
  }

  /** Two requests racing for the same username or email: the loser gets the pre-check's 409, not a 500. */
  private async asTakenOnRace<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const violated = uniqueViolation(error);
      if (violated === undefined) throw error;
      throw new ServiceError(409, /email/.test(violated) ? EMAIL_TAKEN : USERNAME_TAKEN);
    }
  }

  async update(user: User, input: UpdateUserInput): Promise<User> {
    this.validate(input);
    const changes: UserChanges = {
      username: input.username,
      name: input.name,
      email: input.email,
      isAdmin: input.isAdmin,
      publicEmail: input.publicEmail === undefined ? undefined : blankAsNull(input.publicEmail),
      external: input.external,
      note: input.note,
      twoFactorEnabled: input.twoFactorEnabled,
      passwordHash: input.password === undefined ? undefined : await hashPassword(input.password),
    };
    const updated = await this.asTakenOnRace(() => this.db.transaction(async (trx) => {
      await this.ensureUnique(input, user.id, trx);
      const now = this.clock.now();
      await this.repository.update(user.id, changes, now, trx);
      if (input.username !== undefined && input.username !== user.username) {
        // The personal namespace follows the username, and its projects' paths with it (GitLab moves them).
        const namespace = await new NamespacesRepository(trx).renameUserNamespace(user.id, input.username, now, trx);
        if (namespace) await new ProjectsRepository(trx).movePrefix(namespace.id, input.username, now, trx);
      }
      if (input.codeSuggestions !== undefined) {
        const namespaces = new NamespacesRepository(trx);
        const personal = await namespaces.findUserNamespace(user.id, trx);
        if (personal) await namespaces.update(personal.id, { codeSuggestions: input.codeSuggestions }, now, trx);
      }
      return (await this.repository.findById(user.id, trx))!;
    }));
    await this.changed(user.id);
    return updated;
  }

  /** A successful web sign-in: the trackable columns GitLab's admin entities show. */
  async recordSignIn(user: User, ip: string): Promise<void> {
    await this.repository.recordSignIn(user.id, ip, this.clock.now());
    await this.changed(user.id);
  }

  async setState(user: User, state: User['state']): Promise<void> {
    await this.repository.update(user.id, { state }, this.clock.now());
    await this.changed(user.id);
  }

  /**
   * Deletes the user and, in the same transaction, everything that hangs off them: their SSH keys,
   * tokens, memberships, recovery codes, OAuth applications, personal namespace with its projects (and
   * whatever other plugins keep per project, such as Kubernetes agents and their tokens). Those rows
   * reference the user, the namespace or the project with ON DELETE CASCADE, so one statement removes
   * them all or nothing. After the commit every cache drops what was built from any of them.
   */
  async delete(user: User): Promise<void> {
    const changed = await this.db.transaction(async (trx) => {
      const namespaces = new NamespacesRepository(trx);
      const personal = await namespaces.findUserNamespace(user.id, trx);
      const projectIds = personal ? await new ProjectsRepository(trx).idsInNamespaces([personal.id], trx) : [];
      const keyIds = await new KeysRepository(trx).idsOfUser(user.id, trx);
      // The personal projects go as a deleted project goes: other users' memberships in them, deploy
      // keys only they used, and what other plugins keep per project (onProjectDeleted).
      const removed = await this.removal.removeProjects(projectIds, trx);
      await this.repository.delete(user.id, trx);
      return [
        changedUser(user.id),
        ...(personal ? [changedNamespace(personal.id)] : []),
        ...projectIds.map(changedProject),
        ...keyIds.map(changedKey),
        ...removed.tags,
      ];
    });
    await this.cache.invalidate(changed);
  }

  async checkPassword(user: User, password: string): Promise<boolean> {
    return verifyPassword(password, await this.repository.passwordHashOf(user.id));
  }

  /** Uses up one of the user's recovery codes (the second sign-in step): true when it was valid and unused. */
  consumeRecoveryCode(user: User, code: string): Promise<boolean> {
    return this.repository.deleteRecoveryCode(user.id, this.digest(code.trim().toLowerCase()));
  }

  /** Ten new codes of 16 hex characters; the old ones stop working. Stored as peppered digests. */
  async regenerateRecoveryCodes(user: User): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => randomBytes(8).toString('hex'));
    await this.db.transaction((trx) =>
      this.repository.replaceRecoveryCodes(user.id, codes.map((code) => this.digest(code)), this.clock.now(), trx),
    );
    return codes;
  }

  /** Peppered digest as stored for recovery codes. */
  digest(value: string) {
    return pepperedDigest(value, this.pepper);
  }

  /**
   * After a committed write: every instance's directory cache, and what is built from this user (the
   * token principals), drop it before the request that wrote is answered.
   */
  private changed(userId: number): Promise<void> {
    return this.cache.invalidate([changedUser(userId)]);
  }
}
