import type { TestApp } from './app.js';
import { ROOT_TOKEN } from './app.js';

let counter = 0;

/** Creates a user through the API as root; returns the API's body. */
export async function createUser(app: TestApp, overrides: Record<string, unknown> = {}) {
  counter += 1;
  const username = (overrides.username as string) ?? `user${counter}_${Math.random().toString(36).slice(2, 8)}`;
  const response = await app.request('/api/v4/users', {
    method: 'POST',
    token: ROOT_TOKEN,
    body: { username, name: `User ${username}`, email: `${username}@example.com`, password: 'correct-horse-battery', ...overrides },
  });
  if (response.status !== 201) throw new Error(`createUser failed: ${response.status} ${response.text}`);
  return response.body as { id: number; username: string; name: string; email: string };
}

/** Creates a user and a personal access token for them directly through the services (fast). */
export async function createUserWithToken(
  app: TestApp,
  scopes: string[] = ['api'],
  options: { admin?: boolean; expiresAt?: string | null; username?: string } = {},
) {
  counter += 1;
  const username = options.username ?? `user${counter}_${Math.random().toString(36).slice(2, 8)}`;
  const user = await app.services.directory.users.create({
    username,
    name: `User ${username}`,
    email: `${username}@example.com`,
    password: 'correct-horse-battery',
    isAdmin: options.admin ?? false,
  });
  const { token, plaintext } = await app.services.tokens.tokens.create(user, {
    name: 'test token',
    scopes,
    expiresAt: options.expiresAt,
  });
  return { user, token, plaintext };
}
