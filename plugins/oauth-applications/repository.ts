import { toDate, isRowId, type Knex } from 'gatehouse';

/** An OAuth application, without its secret digest. */
export interface Application {
  id: number;
  /** The owning user, or null for an instance-wide application. */
  ownerId: number | null;
  name: string;
  /** The client id (`application_id` in the API). */
  uid: string;
  redirectUri: string;
  scopes: string[];
  confidential: boolean;
  /** Admin-set: the provider skips the consent page. */
  trusted: boolean;
  /** The device authorization grant is allowed. */
  deviceCodeEnabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const APPLICATIONS_TABLE = 'oauth_applications';
/** Every column but the secret digest: reads never carry it unless they ask for it by name. */
const COLUMNS = ['id', 'owner_id', 'name', 'uid', 'redirect_uri', 'scopes', 'confidential', 'trusted', 'device_code_enabled', 'created_at', 'updated_at'].map(
  (c) => `${APPLICATIONS_TABLE}.${c}`,
);

function toApplication(row: Record<string, unknown>): Application {
  return {
    id: Number(row.id),
    ownerId: row.owner_id == null ? null : Number(row.owner_id),
    name: String(row.name),
    uid: String(row.uid),
    redirectUri: String(row.redirect_uri),
    scopes: JSON.parse(String(row.scopes)) as string[],
    confidential: Boolean(row.confidential),
    trusted: Boolean(row.trusted),
    deviceCodeEnabled: Boolean(row.device_code_enabled),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export interface NewApplicationRow {
  ownerId: number | null;
  name: string;
  uid: string;
  secretDigest: string;
  redirectUri: string;
  scopes: readonly string[];
  confidential: boolean;
  trusted: boolean;
  deviceCodeEnabled: boolean;
  now: Date;
}

/** The attributes an update may change. */
export interface ApplicationChanges {
  name?: string;
  redirectUri?: string;
  scopes?: readonly string[];
  confidential?: boolean;
  trusted?: boolean;
  deviceCodeEnabled?: boolean;
}

export class ApplicationsRepository {
  constructor(private readonly db: Knex) {}

  async findById(id: number, trx: Knex = this.db): Promise<Application | undefined> {
    if (!isRowId(id)) return undefined;
    const row = await trx(APPLICATIONS_TABLE).select(COLUMNS).where({ id }).first();
    return row ? toApplication(row) : undefined;
  }

  async findByUid(uid: string, trx: Knex = this.db): Promise<Application | undefined> {
    const row = await trx(APPLICATIONS_TABLE).select(COLUMNS).where({ uid }).first();
    return row ? toApplication(row) : undefined;
  }

  /** The stored secret digest of one application (only secret verification reads it). */
  async secretDigestOf(id: number, trx: Knex = this.db): Promise<string | undefined> {
    const row = await trx(APPLICATIONS_TABLE).select('secret_digest').where({ id }).first();
    return row ? String(row.secret_digest) : undefined;
  }

  async insert(row: NewApplicationRow, trx: Knex = this.db): Promise<Application> {
    const [inserted] = await trx(APPLICATIONS_TABLE)
      .insert({
        owner_id: row.ownerId,
        name: row.name,
        uid: row.uid,
        secret_digest: row.secretDigest,
        redirect_uri: row.redirectUri,
        scopes: JSON.stringify(row.scopes),
        confidential: row.confidential,
        trusted: row.trusted,
        device_code_enabled: row.deviceCodeEnabled,
        created_at: row.now,
        updated_at: row.now,
      })
      .returning('id');
    return (await this.findById(Number(typeof inserted === 'object' ? inserted.id : inserted), trx))!;
  }

  async update(id: number, changes: ApplicationChanges, now: Date, trx: Knex = this.db): Promise<void> {
    const values: Record<string, unknown> = {};
    if (changes.name !== undefined) values.name = changes.name;
    if (changes.redirectUri !== undefined) values.redirect_uri = changes.redirectUri;
    if (changes.scopes !== undefined) values.scopes = JSON.stringify(changes.scopes);
    if (changes.confidential !== undefined) values.confidential = changes.confidential;
    if (changes.trusted !== undefined) values.trusted = changes.trusted;
    if (changes.deviceCodeEnabled !== undefined) values.device_code_enabled = changes.deviceCodeEnabled;
    if (!Object.keys(values).length) return;
    await trx(APPLICATIONS_TABLE).where({ id }).update({ ...values, updated_at: now });
  }

  async replaceSecretDigest(id: number, secretDigest: string, now: Date, trx: Knex = this.db): Promise<void> {
    await trx(APPLICATIONS_TABLE).where({ id }).update({ secret_digest: secretDigest, updated_at: now });
  }

  /** Deletes one application; returns whether it existed. */
  async delete(id: number, trx: Knex = this.db): Promise<boolean> {
    return (await trx(APPLICATIONS_TABLE).where({ id }).delete()) > 0;
  }

  /** One user's applications, oldest first (GitLab's unordered listings are `id ASC`), and their count. */
  async listOwned(ownerId: number, page: { offset: number; limit: number }): Promise<{ applications: Application[]; total: number }> {
    const [rows, counted] = await Promise.all([
      this.db(APPLICATIONS_TABLE).select(COLUMNS).where({ owner_id: ownerId }).orderBy('id', 'asc').offset(page.offset).limit(page.limit),
      this.db(APPLICATIONS_TABLE).where({ owner_id: ownerId }).count({ n: '*' }).first(),
    ]);
    return { applications: rows.map(toApplication), total: Number(counted?.n ?? 0) };
  }

  /** Every instance-wide application (no owner), oldest first. */
  async listInstance(): Promise<Application[]> {
    const rows = await this.db(APPLICATIONS_TABLE).select(COLUMNS).whereNull('owner_id').orderBy('id', 'asc');
    return rows.map(toApplication);
  }
}
