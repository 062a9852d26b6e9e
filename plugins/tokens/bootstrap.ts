import { randomHex, type BootstrapResult } from 'gatehouse';
import { ALL_SCOPES } from './scopes.js';
import type { TokensServices } from './services.js';

export const ROOT_USERNAME = 'root';

/**
 * On an empty database: create the `root` admin and a token with every scope — the one given in
 * GATEHOUSE_ROOT_TOKEN, or a new one printed once. A database with users is left alone.
 */
export async function bootstrapRoot(services: TokensServices): Promise<BootstrapResult | void> {
  const { directory, tokens } = services;
  if ((await directory.users.count()) > 0) return;
  const root = await directory.users.create({
    username: ROOT_USERNAME,
    name: 'Administrator',
    email: 'admin@example.com',
    password: randomHex(16),
    isAdmin: true,
  });
  const { plaintext } = await tokens.create(root, { name: 'root bootstrap token', scopes: ALL_SCOPES }, undefined, null, services.rootToken);
  return {
    notices: services.rootToken
      ? ['created the root admin; its token is the one given in GATEHOUSE_ROOT_TOKEN']
      : [`created the root admin; root token (shown once): ${plaintext}`],
  };
}
