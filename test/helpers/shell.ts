import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { TestApp } from './app.js';

/** The shell secret of a running test app (what GitLab Shell would read from .gitlab_shell_secret). */
export const shellSecretOf = (app: TestApp): string => app.services['internal-api'].internal.shellSecret;

/**
 * A `Gitlab-Shell-Api-Request` JWT as GitLab Shell mints it: HS256 with the raw secret, `iss`
 * gitlab-shell, `iat` now, `exp` now + 60 (times from the app's clock unless overridden).
 */
export async function shellJwt(
  app: TestApp,
  overrides: { iss?: string; iat?: number; exp?: number; nbf?: number; secret?: string; alg?: string } = {},
): Promise<string> {
  const now = Math.floor(app.clock.now().getTime() / 1000);
  const claims: Record<string, unknown> = { jti: randomUUID(), iss: overrides.iss ?? 'gitlab-shell', iat: overrides.iat ?? now, exp: overrides.exp ?? now + 60 };
  if (overrides.nbf !== undefined) claims.nbf = overrides.nbf;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: overrides.alg ?? 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(overrides.secret ?? shellSecretOf(app)));
}

/** Headers GitLab Shell sends on every internal API call. */
export async function shellHeaders(app: TestApp, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    'Gitlab-Shell-Api-Request': await shellJwt(app),
    'User-Agent': 'GitLab-Shell',
    'Content-Type': 'application/json',
    ...extra,
  };
}
