import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import type { TestApp } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';

/** GitLab's KAS strings (reference Appendix A). */
export const KAS_JWT_INVALID = { message: 'KAS JWT authentication invalid' };
export const NOT_FOUND = { message: '404 Not Found' };
export const RECORD_NOT_FOUND = { message: '404 Not found' };
export const PROJECT_NOT_FOUND = { message: '404 Project Not Found' };

/** The decoded KAS secret of a running app (what KAS reads from .gitlab_kas_secret). */
export const kasSecretOf = (app: TestApp): Buffer => app.services['kubernetes-agent'].kasSecret;

/**
 * A `Gitlab-Kas-Api-Request` JWT as KAS mints it (jose, an implementation independent of the one
 * under test): HS256, `iss` gitlab-kas, `aud` gitlab, `iat` now and `exp` now + 30 unless overridden.
 * `null` drops a claim.
 */
export async function kasJwt(
  app: TestApp,
  overrides: { iss?: string | null; aud?: string | string[] | null; exp?: number | null; nbf?: number; key?: Uint8Array } = {},
): Promise<string> {
  const now = Math.floor(app.clock.now().getTime() / 1000);
  const claims: Record<string, unknown> = { iat: now };
  if (overrides.iss !== null) claims.iss = overrides.iss ?? 'gitlab-kas';
  if (overrides.aud !== null) claims.aud = overrides.aud ?? 'gitlab';
  if (overrides.exp !== null) claims.exp = overrides.exp ?? now + 30;
  if (overrides.nbf !== undefined) claims.nbf = overrides.nbf;
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(overrides.key ?? kasSecretOf(app));
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A hand-built JWT with any header (for `alg: none`, HS512 and friends). */
export function rawJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: Buffer | null, hmac = 'sha256'): string {
  const signing = `${b64url(header)}.${b64url(payload)}`;
  return `${signing}.${key ? createHmac(hmac, key).update(signing).digest('base64url') : ''}`;
}

/** Headers of a KAS call on behalf of an agent (current header names). */
export async function kasHeaders(app: TestApp, agentToken?: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    'Gitlab-Kas-Api-Request': await kasJwt(app),
    ...(agentToken === undefined ? {} : { 'Gitlab-Agent-Api-Request': agentToken }),
    ...extra,
  };
}

const viewerOf = (user: any) => ({ id: user.id, username: user.username, name: user.name, isAdmin: user.isAdmin, state: user.state });

/**
 * A maintainer with a project (`visibility`) holding one agent with one token, plus a developer of
 * that project and an outsider. Built through the services (fast); the API is what tests exercise.
 */
export async function agentFixture(app: TestApp, options: { visibility?: 'private' | 'internal' | 'public'; agentName?: string } = {}) {
  const maintainer = await createUserWithToken(app, ['api']);
  const developer = await createUserWithToken(app, ['api']);
  const outsider = await createUserWithToken(app, ['api']);
  const projects = app.services.directory.projects;
  const owner = viewerOf(maintainer.user);
  const project = await projects.createProject(owner, { name: `config-${Math.random().toString(36).slice(2, 8)}`, visibility: options.visibility ?? 'private' });
  await projects.addProjectMember(owner, project, { userId: developer.user.id, accessLevel: 30 });
  const agents = app.services['kubernetes-agent'].agents;
  const agent = await agents.createAgent(owner, project, options.agentName ?? 'primary');
  const { token, plaintext } = await agents.createToken(owner, project, agent.id, { name: 'kas token' });
  return { maintainer, developer, outsider, project, agent, token, agentToken: plaintext as string };
}

/** Another project of a fresh owner, with the given visibility (for project_info). */
export async function otherProject(app: TestApp, visibility: 'private' | 'internal' | 'public') {
  const { user } = await createUserWithToken(app, ['api']);
  return app.services.directory.projects.createProject(viewerOf(user), { name: `other-${Math.random().toString(36).slice(2, 8)}`, visibility });
}

/** The stored row of an agent token (digest included), straight from the database. */
export const tokenRow = (app: TestApp, id: number) => app.db('kubernetes_agent_tokens').where({ id }).first();
