/**
 * The public API of gatehouse: the package entry `gatehouse`, and the only module a plugin imports,
 * whether it ships in `plugins/` or lives in its own package. Everything a manifest needs is here: the
 * manifest and route declarers, the zod instance core validates with (so a plugin's schemas are the
 * ones core converts and checks), GitLab-shaped errors, parameter, pagination and response helpers, the cache
 * helper, secret, time and database helpers, and the types of manifests, deps and principals.
 *
 * A plugin exports services to its dependants by declaration merging on this module:
 *
 * ```ts
 * declare module 'gatehouse' {
 *   interface PluginServices { directory: DirectoryServices }
 * }
 * ```
 *
 * Nothing outside this file is public; core's other modules may change without notice.
 *
 * @packageDocumentation
 */

export { z } from 'zod';
export type { Knex } from 'knex';
export type { Logger } from 'pino';

export { definePlugin, routeFor } from './plugins/types.js';
export { RouteProblems } from './plugins/loader.js';
export type {
  AnyPluginManifest,
  AuthStrategy,
  AuthStrategyDocs,
  BootstrapResult,
  Clock,
  CredentialKinds,
  CredentialOf,
  FlagContext,
  FlagDefinition,
  FlagResolver,
  GatehouseContext,
  GatehouseState,
  HttpMethod,
  InvalidationBus,
  PluginDeps,
  PluginManifest,
  PluginRoutes,
  PluginServices,
  Principal,
  PrincipalCredential,
  PrincipalUser,
  RateLimitSpec,
  RouteAuth,
  RouteDefinition,
  SecurityScheme,
  VersionInfo,
} from './plugins/types.js';

export {
  ApiError,
  BadRequestError,
  INSUFFICIENT_SCOPE_DESCRIPTION,
  InsufficientScopeError,
  InvalidTokenError,
  MalformedStringError,
  MethodNotAllowedError,
  ModelValidationError,
  NotFoundError,
  PayloadTooLargeError,
  PreconditionFailedError,
  RATE_LIMITED_MESSAGE,
  RecordNotFoundError,
  RouteNotFoundError,
  ServiceError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
  ValidationError,
  ForbiddenError,
} from './errors.js';
export type { ErrorBody } from './errors.js';

export { DEFAULT_PER_PAGE, MAX_PER_PAGE, pageOf, paginationShape, respondWithPage, setPaginationHeaders } from './http/pagination.js';
export type { ListPage, PageRequest, PageWindow } from './http/pagination.js';
export { callerOf, created, noContent } from './http/responses.js';
export { EMPTY, INVALID, NOT_A_VALID_VALUE, NOT_ALLOWED, p, whole } from './http/validation.js';
export type { ParamGroup } from './http/validation.js';

export { Cache, createCache } from './cache/index.js';
export type { CacheOptions, CacheTags, InvalidationListener } from './cache/index.js';

export type { SecretRule, SecretStore } from './config/secrets.js';
export { constantTimeEqual, generatePepper, hashPassword, PEPPER_RULE, pepperedDigest, randomHex, verifyPassword } from './util/secrets.js';
export { addDays, iso, startOfUtcDay, toDate, utcDay, utcDayCache } from './util/time.js';
export { BadGatewayError, GatewayTimeoutError, HOP_BY_HOP } from './upstream/index.js';
export type { RelayAnswerOptions, RelayInFlight, RelayRequest, Upstream, UpstreamOptions, Upstreams, UpstreamStatus } from './upstream/index.js';
export { generateSigningKeyPem, loadInstanceKeys } from './signing/instance-keys.js';
export type { InstanceKeys, PublicJwk } from './signing/instance-keys.js';
export type { Discovery, DiscoveryDocument, DiscoveryExtension } from './signing/discovery.js';
export { fitsIntegerColumn, isRowId, MAX_INTEGER_COLUMN, uniqueViolation } from './db/index.js';
