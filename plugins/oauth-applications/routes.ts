import { ForbiddenError, NotFoundError, callerOf, created, noContent, respondWithPage, routeFor, type GatehouseContext } from 'gatehouse';
import type { OauthApplicationsServices } from './services.js';
import {
  ApplicationIdParams,
  CreateApplicationParams,
  CreateInstanceApplicationParams,
  ListOwnApplicationsParams,
  UpdateApplicationParams,
  UpdateInstanceApplicationParams,
} from './params.js';
import { presentApplication, presentApplicationWithSecret } from './presenter.js';
import type { Application } from './repository.js';
import type { NewApplication } from './service.js';

const route = routeFor<OauthApplicationsServices>();

/** `not_found!('Application')`: `{"message":"404 Application Not Found"}`. */
const APPLICATION = 'Application';

const toNewApplication = (input: {
  name: string;
  redirect_uri: string;
  scopes: string[];
  confidential?: boolean;
  device_code_enabled?: boolean;
  trusted?: boolean;
}): NewApplication => ({
  name: input.name,
  redirectUri: input.redirect_uri,
  scopes: input.scopes,
  // Grape's `default: true`; omitted or null is confidential.
  confidential: input.confidential ?? true,
  deviceCodeEnabled: input.device_code_enabled ?? false,
  trusted: input.trusted ?? false,
});

/**
 * The caller's own application: unknown is 404, anyone else's (another user's or an instance-wide
 * one) is 403, as GitLab's `authorize!` answers — for admins too, since these routes are the caller's.
 */
async function ownApplication(ctx: GatehouseContext, services: OauthApplicationsServices, id: number): Promise<Application> {
  const application = await services.applications.findById(id);
  if (!application) throw new NotFoundError(APPLICATION);
  if (application.ownerId !== callerOf(ctx).id) throw new ForbiddenError();
  return application;
}

/** An instance-wide application (GitLab's ApplicationsFinder): a user's application is not one of them (404). */
async function instanceApplication(services: OauthApplicationsServices, id: number): Promise<Application> {
  const application = await services.applications.findById(id);
  if (!application || application.ownerId !== null) throw new NotFoundError(APPLICATION);
  return application;
}

/** `/user/applications`: every user manages their own applications. */
export const userApplicationRoutes = [
  route({
    name: 'oauth-applications.create-own',
    method: 'POST',
    path: '/api/v4/user/applications',
    auth: { strategy: 'token' },
    input: CreateApplicationParams,
    async handler(ctx, input, services) {
      const { application, secret } = await services.applications.create(callerOf(ctx), callerOf(ctx).id, toNewApplication(input));
      created(ctx, presentApplicationWithSecret(application, secret));
    },
  }),
  route({
    name: 'oauth-applications.list-own',
    method: 'GET',
    path: '/api/v4/user/applications',
    auth: { strategy: 'token' },
    input: ListOwnApplicationsParams,
    async handler(ctx, input, services) {
      await respondWithPage(ctx, services.externalUrl, input, async (window) => {
        const { applications, total } = await services.applications.listOwned(callerOf(ctx).id, window);
        return { items: applications.map(presentApplication), total };
      });
    },
  }),
  route({
    name: 'oauth-applications.show-own',
    method: 'GET',
    path: '/api/v4/user/applications/:id',
    auth: { strategy: 'token' },
    input: ApplicationIdParams,
    async handler(ctx, input, services) {
      ctx.body = presentApplication(await ownApplication(ctx, services, input.id));
    },
  }),
  route({
    name: 'oauth-applications.update-own',
    method: 'PUT',
    path: '/api/v4/user/applications/:id',
    auth: { strategy: 'token' },
    input: UpdateApplicationParams,
    async handler(ctx, input, services) {
      const application = await ownApplication(ctx, services, input.id);
      const updated = await services.applications.update(callerOf(ctx), application, {
        name: input.name,
        redirectUri: input.redirect_uri,
        scopes: input.scopes,
        confidential: input.confidential,
        deviceCodeEnabled: input.device_code_enabled,
      });
      ctx.body = presentApplication(updated);
    },
  }),
  route({
    name: 'oauth-applications.delete-own',
    method: 'DELETE',
    path: '/api/v4/user/applications/:id',
    auth: { strategy: 'token' },
    input: ApplicationIdParams,
    async handler(ctx, input, services) {
      await services.applications.delete(await ownApplication(ctx, services, input.id));
      noContent(ctx);
    },
  }),
];

/** `/applications`: admins manage the instance-wide applications (no owner). */
export const instanceApplicationRoutes = [
  route({
    name: 'oauth-applications.create',
    method: 'POST',
    path: '/api/v4/applications',
    auth: { strategy: 'admin' },
    input: CreateInstanceApplicationParams,
    async handler(ctx, input, services) {
      const { application, secret } = await services.applications.create(callerOf(ctx), null, toNewApplication(input));
      // 201, as GitLab's spec asserts (its docs say 200).
      created(ctx, presentApplicationWithSecret(application, secret));
    },
  }),
  route({
    name: 'oauth-applications.list',
    method: 'GET',
    path: '/api/v4/applications',
    auth: { strategy: 'admin' },
    async handler(ctx, _input, services) {
      // Not paginated, as in GitLab.
      ctx.body = (await services.applications.listInstance()).map(presentApplication);
    },
  }),
  route({
    name: 'oauth-applications.update',
    method: 'PUT',
    path: '/api/v4/applications/:id',
    auth: { strategy: 'admin' },
    input: UpdateInstanceApplicationParams,
    async handler(ctx, input, services) {
      const application = await instanceApplication(services, input.id);
      const updated = await services.applications.update(callerOf(ctx), application, {
        name: input.name,
        redirectUri: input.redirect_uri,
        scopes: input.scopes,
        confidential: input.confidential,
        deviceCodeEnabled: input.device_code_enabled,
        trusted: input.trusted,
      });
      ctx.body = presentApplication(updated);
    },
  }),
  route({
    name: 'oauth-applications.delete',
    method: 'DELETE',
    path: '/api/v4/applications/:id',
    auth: { strategy: 'admin' },
    input: ApplicationIdParams,
    async handler(ctx, input, services) {
      await services.applications.delete(await instanceApplication(services, input.id));
      noContent(ctx);
    },
  }),
  route({
    name: 'oauth-applications.renew-secret',
    method: 'POST',
    path: '/api/v4/applications/:id/renew-secret',
    auth: { strategy: 'admin' },
    input: ApplicationIdParams,
    async handler(ctx, input, services) {
      const { application, secret } = await services.applications.renewSecret(await instanceApplication(services, input.id));
      created(ctx, presentApplicationWithSecret(application, secret));
    },
  }),
];

export const oauthApplicationRoutes = [...userApplicationRoutes, ...instanceApplicationRoutes];
