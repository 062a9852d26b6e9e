import type { AuthStrategy, Principal } from 'gatehouse';
import { SESSION_COOKIE } from './sessions.js';
import type { SessionsService } from './sessions.js';

const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

/**
 * The `session` strategy of the web pages: the signed session cookie's user, or an anonymous principal
 * (pages decide: sign-in forms serve anyone, the authorization pages send anonymous users to sign in).
 * Forms check their CSRF token in the handler, which answers a refusal with a page.
 */
export function sessionStrategy(sessions: SessionsService): AuthStrategy {
  return {
    openapi: {
      schemes: {
        session_cookie: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description: 'The session cookie set by signing in at /users/sign_in.',
        },
      },
      // Pages serve signed-out visitors too (the sign-in form, or a redirect to it).
      alternatives: [['session_cookie'], []],
    },
    async authenticate(ctx) {
      const current = await sessions.current(ctx);
      if (!current) return ANONYMOUS;
      const { user, session } = current;
      return Object.freeze({
        kind: 'user',
        user: Object.freeze({ id: user.id, username: user.username, name: user.name, isAdmin: user.isAdmin, state: user.state }),
        credential: Object.freeze({ type: 'session', id: session.id, details: current }),
      } as Principal);
    },
  };
}
