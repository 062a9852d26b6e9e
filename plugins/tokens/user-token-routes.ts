import { created, type ParamGroup } from 'gatehouse';
import { CreateOwnTokenParams, CreateUserTokenParams } from './params.js';
import { presentTokenWithSecret } from './presenter.js';
import { actorOf, findUserOr404, route, unprocessable, withModelErrors } from './route-helpers.js';

/** GitLab 16.5+: exactly one of the classic and the granular scopes. */
const ONE_KIND_OF_SCOPES: readonly ParamGroup[] = [{ rule: 'exactly_one_of', names: ['scopes', 'granular_scopes'] }];

/** Token creation: a user for themself (restricted scopes), and an admin for anyone. */
export const userTokenRoutes = [
  route({
    name: 'tokens.create-own',
    method: 'POST',
    path: '/api/v4/user/personal_access_tokens',
    auth: { strategy: 'token' },
    input: CreateOwnTokenParams,
    inputGroups: ONE_KIND_OF_SCOPES,
    async handler(ctx, input, services) {
      // Granular tokens are not offered (GitLab gates them behind a flag): `granular_scopes` alone
      // leaves the token without scopes, which the model refuses as blank.
      const issued = await withModelErrors(
        () =>
          services.tokens.create(actorOf(ctx), {
            name: input.name,
            description: input.description,
            scopes: input.scopes ?? [],
            expiresAt: input.expires_at,
          }),
        unprocessable,
      );
      created(ctx, presentTokenWithSecret(issued.token, services.tokens.isActive(issued.token), issued.plaintext));
    },
  }),
  route({
    name: 'tokens.create-for-user',
    method: 'POST',
    path: '/api/v4/users/:user_id/personal_access_tokens',
    auth: { strategy: 'admin' },
    input: CreateUserTokenParams,
    async handler(ctx, input, services) {
      const user = await findUserOr404(services, input.user_id);
      const issued = await withModelErrors(
        () =>
          services.tokens.create(user, {
            name: input.name,
            description: input.description,
            scopes: input.scopes,
            expiresAt: input.expires_at,
          }),
        unprocessable,
      );
      created(ctx, presentTokenWithSecret(issued.token, services.tokens.isActive(issued.token), issued.plaintext));
    },
  }),
];
