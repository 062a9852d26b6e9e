/**
 * Shared helpers for the subscriptions tests: groups, projects and members built through the
 * directory's services (fast), and readers of this plugin's tables.
 */
import type { TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

export const ROOT = { id: 1, isAdmin: true };
export const GUEST = 10;
export const REPORTER = 20;
export const DEVELOPER = 30;
export const OWNER = 50;

export const grape = (error: string) => ({ error });
export const badRequest = (reason: string) => ({ message: `400 Bad request - ${reason}` });
export const NAMESPACE_NOT_FOUND = { message: '404 Namespace Not Found' };
export const SUBSCRIPTION_NOT_FOUND = { message: '404 GitlabSubscription Not Found' };

let counter = 0;
export const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 7)}`;

/** A user (with an api token), through the services. */
export async function newUser(app: TestApp, options: { admin?: boolean; scopes?: string[] } = {}) {
  const { user, plaintext } = await createUserWithToken(app, options.scopes ?? ['api'], { admin: options.admin });
  return { id: user.id as number, username: user.username as string, token: plaintext };
}

/**
 * A group created by `owner` (who becomes its Owner member, as in GitLab), or a subgroup of `parentId`.
 * Without an owner it is created by a fresh user, so root is not counted among its members.
 */
export async function newGroup(app: TestApp, options: { parentId?: number; ownerId?: number } = {}) {
  const ownerId = options.ownerId ?? (await newUser(app)).id;
  const path = unique('grp');
  const group = await app.services.directory.projects.createGroup(
    { id: ownerId, isAdmin: options.parentId !== undefined },
    { name: path, path, parentId: options.parentId },
  );
  return { id: group.id as number, fullPath: group.fullPath as string, ownerId };
}

export async function addGroupMember(app: TestApp, groupId: number, userId: number, accessLevel: number) {
  const group = await app.services.directory.projects.findNamespaceById(groupId);
  await app.services.directory.projects.addGroupMember(ROOT, group, { userId, accessLevel });
}

export async function newProject(app: TestApp, namespaceId: number) {
  const project = await app.services.directory.projects.createProject(ROOT, { name: unique('proj'), namespaceId });
  return { id: project.id as number };
}

export async function addProjectMember(app: TestApp, projectId: number, userId: number, accessLevel: number) {
  const project = await app.services.directory.projects.findProjectById(projectId);
  await app.services.directory.projects.addProjectMember(ROOT, project, { userId, accessLevel });
}

/** A user's personal namespace id. */
export async function personalNamespaceId(app: TestApp, userId: number): Promise<number> {
  return (await app.services.directory.projects.findUserNamespace(userId)).id;
}

/** The stored subscription of a namespace, driver differences removed. */
export async function subscriptionRow(app: TestApp, namespaceId: number) {
  const row = await app.db('subscriptions_gitlab_subscriptions').where({ namespace_id: namespaceId }).first();
  if (!row) return undefined;
  return {
    plan_code: row.plan_code ?? null,
    seats: Number(row.seats),
    max_seats_used: Number(row.max_seats_used),
    start_date: row.start_date,
    end_date: row.end_date ?? null,
    auto_renew: row.auto_renew === null || row.auto_renew === undefined ? null : Boolean(row.auto_renew),
    trial: Boolean(row.trial),
    trial_starts_on: row.trial_starts_on ?? null,
    trial_ends_on: row.trial_ends_on ?? null,
    trial_extension_type: row.trial_extension_type === null || row.trial_extension_type === undefined ? null : Number(row.trial_extension_type),
  };
}

export async function countRows(app: TestApp, table: string, where: Record<string, unknown> = {}): Promise<number> {
  const row = await app.db(table).where(where).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** The packs of a namespace as stored, oldest first. */
export async function packRows(app: TestApp, namespaceId: number) {
  const rows = await app.db('subscriptions_ci_minutes_packs').where({ namespace_id: namespaceId }).orderBy('id');
  return rows.map((row: Record<string, unknown>) => ({
    namespace_id: Number(row.namespace_id),
    number_of_minutes: Number(row.number_of_minutes),
    expires_at: row.expires_at,
    purchase_xid: row.purchase_xid,
  }));
}

/** Every upcoming reconciliation as stored, by namespace. */
export async function reconciliationRows(app: TestApp) {
  const rows = await app.db('subscriptions_upcoming_reconciliations').orderBy('namespace_id');
  return rows.map((row: Record<string, unknown>) => ({
    namespace_id: Number(row.namespace_id),
    next_reconciliation_date: row.next_reconciliation_date,
    display_alert_from: row.display_alert_from,
  }));
}
