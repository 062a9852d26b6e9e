/**
 * Shared constants and helpers for the oauth-applications tests: GitLab's exact strings (reference §6,
 * Appendix A) and readers of the applications table that normalise SQLite/PostgreSQL differences.
 */
import type { ExecutionContext } from 'ava';
import { createUserWithToken } from '../../helpers/fixtures.js';
import type { TestApp, TestResponse } from '../../helpers/app.js';

export { FORBIDDEN, UNAUTHORIZED, insufficientScope } from '../../helpers/gitlab-errors.js';

export const TABLE = 'oauth_applications';
export const NOW = '2026-11-22T10:00:00.000Z';

export const APPLICATION_NOT_FOUND = { message: '404 Application Not Found' };
export const grape = (error: string) => ({ error });
export const modelError = (fields: Record<string, string[]>) => ({ message: fields });

export const INVALID_URI = 'must be a valid URI.';
export const FORBIDDEN_URI = 'is forbidden by the server.';
export const SCOPES_NOT_CONFIGURED = "doesn't match configured on the server.";
export const CANT_BE_BLANK = "can't be blank";

export const SECRET = /^gloas-[0-9a-f]{64}$/;
export const CLIENT_ID = /^[0-9a-f]{64}$/;

export const USER_APPS = '/api/v4/user/applications';
export const userApp = (id: number | string) => `${USER_APPS}/${id}`;
export const INSTANCE_APPS = '/api/v4/applications';
export const instanceApp = (id: number | string) => `${INSTANCE_APPS}/${id}`;

/** A user with one token, through the services (fast). */
export function userWithToken(app: TestApp, scopes: string[] = ['api'], options: { admin?: boolean } = {}) {
  return createUserWithToken(app, scopes, options);
}

/** A valid creation body; fields may be overridden. */
export const appBody = (overrides: Record<string, unknown> = {}) => ({
  name: 'review app',
  redirect_uri: 'https://review-42.example.com/auth/callback',
  scopes: 'api read_user',
  ...overrides,
});

/** Creates an application through the API (as `token`), asserting the 201; returns the body, secret included. */
export async function createApp(t: ExecutionContext, app: TestApp, token: string, path = USER_APPS, body: Record<string, unknown> = appBody()) {
  const response = await app.request(path, { method: 'POST', token, body });
  t.is(response.status, 201, response.text);
  return response.body as AppJson & { secret: string };
}

export interface AppJson {
  id: number;
  application_id: string;
  application_name: string;
  callback_url: string;
  confidential: boolean;
  scopes: string[];
  trusted: boolean;
  device_code_enabled: boolean;
}

/** The Application entity a test expects, from a created body (the secret dropped) and changes. */
export function appJson(created: AppJson, changes: Partial<AppJson> = {}): AppJson {
  return {
    id: created.id,
    application_id: created.application_id,
    application_name: created.application_name,
    callback_url: created.callback_url,
    confidential: created.confidential,
    scopes: created.scopes,
    trusted: created.trusted,
    device_code_enabled: created.device_code_enabled,
    ...changes,
  };
}

/** One application row with driver differences removed (booleans, timestamps, JSON scopes). */
export async function appRow(app: TestApp, id: number) {
  const row = await app.db(TABLE).where({ id }).first();
  if (!row) return undefined;
  return {
    id: Number(row.id),
    owner_id: row.owner_id == null ? null : Number(row.owner_id),
    name: String(row.name),
    uid: String(row.uid),
    secret_digest: String(row.secret_digest),
    redirect_uri: String(row.redirect_uri),
    scopes: JSON.parse(String(row.scopes)) as string[],
    confidential: Boolean(row.confidential),
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
  };
}

function toIso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return new Date(typeof value === 'number' ? value : String(value)).toISOString();
}

export async function countApps(app: TestApp, where: Record<string, unknown> = {}): Promise<number> {
  const row = await app.db(TABLE).where(where).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** Every row of the table, to assert that a refused request changed nothing at all. */
export async function snapshot(app: TestApp) {
  const rows = await app.db(TABLE).select('id').orderBy('id');
  return Promise.all(rows.map((row) => appRow(app, Number(row.id))));
}

export const statusAndBody = (response: TestResponse) => [response.status, response.body];
