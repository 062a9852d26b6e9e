/**
 * Shared pieces of the code-suggestions tests: an app wired to a fake AI gateway, GitLab's exact
 * strings, users with tokens, and request helpers that carry a request id (the fake answers by it).
 */
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp, type TestAppOptions, type RequestOptions } from '../../helpers/app.js';
import { createUserWithToken } from '../../helpers/fixtures.js';
import { FakeAiGateway } from '../../helpers/fake-ai-gateway.js';

export { UNAUTHORIZED, FORBIDDEN, insufficientScope } from '../../helpers/gitlab-errors.js';
export const NOT_FOUND = { message: '404 Not Found' };
export const TOO_LARGE = { message: '413 Request Entity Too Large' };
export const BAD_GATEWAY = { message: '502 Bad Gateway' };
export const GATEWAY_TIMEOUT = { message: '504 Gateway Timeout' };
export const RATE_LIMITED = { message: { error: 'This endpoint has been requested too many times. Try again later.' } };
export const DIRECT_CONNECTIONS_DISABLED = { message: '403 Forbidden - Direct connections are disabled' };
/** `api` or `ai_features`; the 403 names both. */
export const AI_SCOPES = 'api ai_features';
export const ORIGIN_HEADER = 'x-gitlab-error-origin';
/** The TestClock's start in epoch seconds (2026-11-22T10:00:00Z). */
export const NOW_S = Date.parse('2026-11-22T10:00:00.000Z') / 1000;

export const COMPLETIONS = '/api/v4/code_suggestions/completions';
export const TOKENS = '/api/v4/code_suggestions/tokens';
export const DIRECT_ACCESS = '/api/v4/code_suggestions/direct_access';
export const ENABLED = '/api/v4/code_suggestions/enabled';
export const CONNECTION_DETAILS = '/api/v4/code_suggestions/connection_details';
export const GRAPHQL = '/api/graphql';

/** The Language Server's completion body (clients.md §1 row 7b). */
export const completionBody = (overrides: Record<string, unknown> = {}) => ({
  prompt_version: 1,
  project_path: '',
  project_id: -1,
  current_file: { content_above_cursor: 'def add(a, b):\n    ', content_below_cursor: '', file_name: 'main.py' },
  choices_count: 1,
  ...overrides,
});

export interface CsApp {
  app: TestApp;
  fake: FakeAiGateway;
  close(): Promise<void>;
}

/** A gateway whose AI gateway is a fresh fake. */
export async function startCsApp(options: TestAppOptions & { pluginConfig?: Record<string, unknown> } = {}): Promise<CsApp> {
  const fake = await FakeAiGateway.start();
  const { pluginConfig, ...rest } = options;
  const app = await startTestApp({
    ...rest,
    config: { ...(rest.config ?? {}), plugins: { 'code-suggestions': { aiGatewayUrl: fake.url, ...(pluginConfig ?? {}) } } },
  });
  return {
    app,
    fake,
    async close() {
      await app.close();
      await fake.close();
    },
  };
}

/** A user with a token; by default with `api`, Bearer as the Language Server sends it. */
export function userWithToken(app: TestApp, scopes: string[] = ['api'], options: { admin?: boolean } = {}) {
  return createUserWithToken(app, scopes, options);
}

/** A POST with a fresh request id (returned, so the fake's records can be found). */
export async function post(app: TestApp, path: string, options: RequestOptions & { requestId?: string } = {}) {
  const requestId = options.requestId ?? randomUUID();
  const response = await app.request(path, {
    method: 'POST',
    auth: 'bearer',
    ...options,
    headers: { 'X-Request-Id': requestId, ...(options.headers ?? {}) },
  });
  return { ...response, requestId };
}

/** Decodes a JWT's header and payload without verifying it. */
export function decodeJwt(token: string): { header: Record<string, any>; payload: Record<string, any> } {
  const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  return { header, payload };
}

/** Switches a user's personal namespace's Code Suggestions off through the admin API. */
export async function disableForUser(app: TestApp, userId: number, rootToken: string) {
  const response = await app.request(`/api/v4/users/${userId}`, { method: 'PUT', token: rootToken, body: { code_suggestions: false } });
  if (response.status !== 200) throw new Error(`PUT /users/${userId} answered ${response.status}: ${response.text}`);
}
