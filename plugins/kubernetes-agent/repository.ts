import { toDate, isRowId, type Knex } from 'gatehouse';

/** A registered agent: a name in its configuration project. */
export interface Agent {
  id: number;
  projectId: number;
  name: string;
  createdByUserId: number | null;
  createdAt: Date;
}

export type AgentTokenStatus = 'active' | 'revoked';

/** An agent token, without its digest. */
export interface AgentToken {
  id: number;
  agentId: number;
  name: string;
  description: string | null;
  status: AgentTokenStatus;
  createdByUserId: number | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** A Cilium network alert, deduplicated per project by fingerprint. */
export interface CiliumAlert {
  id: number;
  projectId: number;
  agentId: number | null;
  fingerprint: string;
  title: string;
  description: string | null;
  events: number;
  payload: Record<string, unknown>;
  startedAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

/** A Starboard (cluster image scanning) vulnerability, one per project and finding UUID. */
export interface Vulnerability {
  id: number;
  projectId: number;
  agentId: number | null;
  uuid: string;
  name: string;
  severity: string;
  confidence: string | null;
  report: { vulnerability: Record<string, unknown>; scanner: Record<string, unknown> };
  createdAt: Date;
  updatedAt: Date;
}

const AGENTS = 'kubernetes_agents';
const TOKENS = 'kubernetes_agent_tokens';
const COUNTERS = 'kubernetes_agent_usage_counters';
const UNIQUE = 'kubernetes_agent_unique_values';
const ALERTS = 'kubernetes_agent_cilium_alerts';
const VULNERABILITIES = 'kubernetes_agent_vulnerabilities';

// Column lists never include the token digest.
const AGENT_COLUMNS = ['id', 'project_id', 'name', 'created_by_user_id', 'created_at'];
const TOKEN_COLUMNS = ['id', 'agent_id', 'name', 'description', 'status', 'created_by_user_id', 'created_at', 'last_used_at'];

const nullableId = (value: unknown) => (value === null || value === undefined ? null : Number(value));

const toAgent = (row: Record<string, unknown>): Agent => ({
  id: Number(row.id),
  projectId: Number(row.project_id),
  name: String(row.name),
  createdByUserId: nullableId(row.created_by_user_id),
  createdAt: toDate(row.created_at),
});

const toToken = (row: Record<string, unknown>): AgentToken => ({
  id: Number(row.id),
  agentId: Number(row.agent_id),
  name: String(row.name),
  description: (row.description as string | null) ?? null,
  status: row.status as AgentTokenStatus,
  createdByUserId: nullableId(row.created_by_user_id),
  createdAt: toDate(row.created_at),
  lastUsedAt: toDate(row.last_used_at),
});

const toAlert = (row: Record<string, unknown>): CiliumAlert => ({
  id: Number(row.id),
  projectId: Number(row.project_id),
  agentId: nullableId(row.agent_id),
  fingerprint: String(row.fingerprint),
  title: String(row.title),
  description: (row.description as string | null) ?? null,
  events: Number(row.events),
  payload: JSON.parse(String(row.payload)),
  startedAt: toDate(row.started_at),
  createdAt: toDate(row.created_at),
  updatedAt: toDate(row.updated_at),
});

const toVulnerability = (row: Record<string, unknown>): Vulnerability => ({
  id: Number(row.id),
  projectId: Number(row.project_id),
  agentId: nullableId(row.agent_id),
  uuid: String(row.uuid),
  name: String(row.name),
  severity: String(row.severity),
  confidence: (row.confidence as string | null) ?? null,
  report: JSON.parse(String(row.report)),
  createdAt: toDate(row.created_at),
  updatedAt: toDate(row.updated_at),
});

/** Insert that answers the new id on both drivers (pg returns rows, sqlite3 the last id). */
async function insertId(db: Knex, table: string, row: Record<string, unknown>): Promise<number> {
  const [inserted] = await db(table).insert(row, ['id']);
  return Number(typeof inserted === 'object' ? (inserted as { id: unknown }).id : inserted);
}

/** SQL of the kubernetes-agent tables. */
export class KubernetesAgentRepository {
  constructor(readonly db: Knex) {}

  // ——— Agents ———

  async findAgent(projectId: number, agentId: number, db: Knex = this.db): Promise<Agent | undefined> {
    if (!isRowId(projectId) || !isRowId(agentId)) return undefined;
    const row = await db(AGENTS).select(AGENT_COLUMNS).where({ id: agentId, project_id: projectId }).first();
    return row ? toAgent(row) : undefined;
  }

  async agentNameTaken(projectId: number, name: string, db: Knex = this.db): Promise<boolean> {
    return !!(await db(AGENTS).select('id').where({ project_id: projectId, name }).first());
  }

  async insertAgent(row: { projectId: number; name: string; createdByUserId: number; now: Date }, db: Knex = this.db): Promise<Agent> {
    const id = await insertId(db, AGENTS, { project_id: row.projectId, name: row.name, created_by_user_id: row.createdByUserId, created_at: row.now });
    return (await this.findAgent(row.projectId, id, db))!;
  }

  async listAgents(projectId: number, page: { offset: number; limit: number }): Promise<{ agents: Agent[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.db(AGENTS).select(AGENT_COLUMNS).where({ project_id: projectId }).orderBy('id').offset(page.offset).limit(page.limit),
      this.db(AGENTS).where({ project_id: projectId }).count({ n: '*' }).first(),
    ]);
    return { agents: rows.map(toAgent), total: Number(count?.n ?? 0) };
  }

  async deleteAgent(agentId: number): Promise<void> {
    await this.db(AGENTS).where({ id: agentId }).delete();
  }

  // ——— Tokens ———

  async insertToken(
    row: { agentId: number; name: string; description: string | null; digest: string; createdByUserId: number; now: Date },
    db: Knex = this.db,
  ): Promise<AgentToken> {
    const id = await insertId(db, TOKENS, {
      agent_id: row.agentId,
      name: row.name,
      description: row.description,
      token_digest: row.digest,
      status: 'active',
      created_by_user_id: row.createdByUserId,
      created_at: row.now,
    });
    return (await this.findToken(row.agentId, id, db))!;
  }

  async findToken(agentId: number, tokenId: number, db: Knex = this.db): Promise<AgentToken | undefined> {
    if (!isRowId(agentId) || !isRowId(tokenId)) return undefined;
    const row = await db(TOKENS).select(TOKEN_COLUMNS).where({ id: tokenId, agent_id: agentId }).first();
    return row ? toToken(row) : undefined;
  }

  async listActiveTokens(agentId: number, page: { offset: number; limit: number }): Promise<{ tokens: AgentToken[]; total: number }> {
    const where = { agent_id: agentId, status: 'active' };
    const [rows, count] = await Promise.all([
      this.db(TOKENS).select(TOKEN_COLUMNS).where(where).orderBy('id').offset(page.offset).limit(page.limit),
      this.db(TOKENS).where(where).count({ n: '*' }).first(),
    ]);
    return { tokens: rows.map(toToken), total: Number(count?.n ?? 0) };
  }

  async revokeToken(tokenId: number): Promise<void> {
    await this.db(TOKENS).where({ id: tokenId }).update({ status: 'revoked' });
  }

  /** The active token with this digest and its agent, in one query. */
  async findActiveTokenByDigest(digest: string): Promise<{ token: AgentToken; agent: Agent } | undefined> {
    const row = await this.db(TOKENS)
      .join(AGENTS, `${AGENTS}.id`, `${TOKENS}.agent_id`)
      .select([
        ...TOKEN_COLUMNS.map((c) => `${TOKENS}.${c}`),
        `${AGENTS}.project_id as agent_project_id`,
        `${AGENTS}.name as agent_name`,
        `${AGENTS}.created_by_user_id as agent_created_by_user_id`,
        `${AGENTS}.created_at as agent_created_at`,
      ])
      .where(`${TOKENS}.token_digest`, digest)
      .andWhere(`${TOKENS}.status`, 'active')
      .first();
    if (!row) return undefined;
    return {
      token: toToken(row),
      agent: toAgent({
        id: row.agent_id,
        project_id: row.agent_project_id,
        name: row.agent_name,
        created_by_user_id: row.agent_created_by_user_id,
        created_at: row.agent_created_at,
      }),
    };
  }

  async touchToken(tokenId: number, now: Date): Promise<void> {
    await this.db(TOKENS).where({ id: tokenId }).update({ last_used_at: now });
  }

  // ——— Usage counters ———

  /** Adds `increment` to a counter. Portable upsert: the row is created at zero when missing, then one atomic `UPDATE … + n`. */
  async incrementCounter(name: string, increment: number, db: Knex = this.db): Promise<void> {
    await db(COUNTERS).insert({ name, value: 0 }).onConflict('name').ignore();
    await db(COUNTERS).where({ name }).increment('value', increment);
  }

  /** Records values of a unique counter; values already recorded are left alone. */
  async addUniqueValues(counter: string, values: readonly number[], db: Knex = this.db): Promise<void> {
    const distinct = [...new Set(values)];
    if (distinct.length) await db(UNIQUE).insert(distinct.map((value) => ({ counter, value }))).onConflict(['counter', 'value']).ignore();
  }

  async counters(): Promise<Array<{ name: string; value: number }>> {
    const rows = await this.db(COUNTERS).select('name', 'value').orderBy('name');
    return rows.map((row) => ({ name: String(row.name), value: Number(row.value) }));
  }

  async uniqueCounts(): Promise<Array<{ counter: string; count: number }>> {
    const rows = await this.db(UNIQUE).select('counter').count({ n: '*' }).groupBy('counter').orderBy('counter');
    return rows.map((row) => ({ counter: String((row as Record<string, unknown>).counter), count: Number(row.n) }));
  }

  // ——— Cilium alerts ———

  /**
   * Stores an alert, or counts one more event on the project's alert with the same fingerprint (the
   * unique index decides, so concurrent repeats never make two alerts). Run it in a transaction.
   */
  async recordAlert(
    row: {
      projectId: number;
      agentId: number;
      fingerprint: string;
      title: string;
      description: string | null;
      payload: Record<string, unknown>;
      now: Date;
    },
    db: Knex = this.db,
  ): Promise<CiliumAlert> {
    const inserted = await db(ALERTS)
      .insert({
        project_id: row.projectId,
        agent_id: row.agentId,
        fingerprint: row.fingerprint,
        title: row.title,
        description: row.description,
        events: 1,
        payload: JSON.stringify(row.payload),
        started_at: row.now,
        created_at: row.now,
        updated_at: row.now,
      })
      .onConflict(['project_id', 'fingerprint'])
      .ignore()
      .returning('id');
    if (!inserted.length) {
      await db(ALERTS)
        .where({ project_id: row.projectId, fingerprint: row.fingerprint })
        .increment('events', 1)
        .update({ payload: JSON.stringify(row.payload), updated_at: row.now });
    }
    const stored = await db(ALERTS).select('*').where({ project_id: row.projectId, fingerprint: row.fingerprint }).first();
    return toAlert(stored);
  }

  async listAlerts(projectId: number, page: { offset: number; limit: number }): Promise<{ alerts: CiliumAlert[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.db(ALERTS).select('*').where({ project_id: projectId }).orderBy('id').offset(page.offset).limit(page.limit),
      this.db(ALERTS).where({ project_id: projectId }).count({ n: '*' }).first(),
    ]);
    return { alerts: rows.map(toAlert), total: Number(count?.n ?? 0) };
  }

  // ——— Vulnerabilities ———

  /** Creates the project's vulnerability with this UUID unless it exists; answers the stored one. */
  async upsertVulnerability(row: {
    projectId: number;
    agentId: number;
    uuid: string;
    name: string;
    severity: string;
    confidence: string | null;
    report: Vulnerability['report'];
    now: Date;
  }): Promise<Vulnerability> {
    await this.db(VULNERABILITIES)
      .insert({
        project_id: row.projectId,
        agent_id: row.agentId,
        uuid: row.uuid,
        name: row.name,
        severity: row.severity,
        confidence: row.confidence,
        report: JSON.stringify(row.report),
        created_at: row.now,
        updated_at: row.now,
      })
      .onConflict(['project_id', 'uuid'])
      .ignore();
    const stored = await this.db(VULNERABILITIES).select('*').where({ project_id: row.projectId, uuid: row.uuid }).first();
    return toVulnerability(stored);
  }

  async listVulnerabilities(projectId: number, page: { offset: number; limit: number }): Promise<{ vulnerabilities: Vulnerability[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.db(VULNERABILITIES).select('*').where({ project_id: projectId }).orderBy('id').offset(page.offset).limit(page.limit),
      this.db(VULNERABILITIES).where({ project_id: projectId }).count({ n: '*' }).first(),
    ]);
    return { vulnerabilities: rows.map(toVulnerability), total: Number(count?.n ?? 0) };
  }

  /**
   * Removes everything these projects' agents left: their tokens (revoked with the agent), the agents,
   * Cilium alerts and vulnerabilities. Runs in the directory's transaction that removes the projects.
   */
  async deleteForProjects(projectIds: readonly number[], trx: Knex): Promise<void> {
    const agentIds = trx(AGENTS).select('id').whereIn('project_id', [...projectIds]);
    await trx(TOKENS).whereIn('agent_id', agentIds).delete();
    await trx(VULNERABILITIES).whereIn('project_id', [...projectIds]).delete();
    await trx(ALERTS).whereIn('project_id', [...projectIds]).delete();
    await trx(AGENTS).whereIn('project_id', [...projectIds]).delete();
  }
}
