import type { Knex } from 'knex';
import type { ParameterizedContext } from 'koa';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { SecretStore } from '../config/secrets.js';
import type { AppConfig } from '../config/schema.js';
import type { ParamGroup } from '../http/validation.js';
import type { Discovery } from '../signing/discovery.js';
import type { InstanceKeys } from '../signing/instance-keys.js';
import type { Upstreams } from '../upstream/index.js';

/**
 * What each plugin exports to the plugins that depend on it. Empty here; every plugin adds its own
 * entry by declaration merging on the package entry (`declare module 'gatehouse'`, in the plugin's
 * `services.ts`), which re-exports this interface, so a dependant gets typed services without
 * importing the other plugin's files.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface PluginServices {}

/** The time source. Injected everywhere so tests can move time. */
export interface Clock {
  now(): Date;
}

/** Context handed to Unleash: the user id, when a user is known. */
export interface FlagContext {
  userId?: string;
  remoteAddress?: string;
}

/** Answers whether a feature flag is on. Synchronous: unleash-client evaluates from memory. */
export interface FlagResolver {
  isEnabled(name: string, context?: FlagContext): boolean;
  /** Whether a plugin's manifest declares the flag (GitLab's "has a definition"). */
  isDeclared(name: string): boolean;
}

/** A flag a plugin declares: snake_case name, Unleash kind, and the value used until Unleash says otherwise. */
export interface FlagDefinition {
  name: string;
  kind: 'release' | 'ops' | 'experiment' | 'permission' | 'kill-switch';
  default: boolean;
  description: string;
}

/** The user a request acts as (after `Sudo`), as the auth strategies resolve it. */
export interface PrincipalUser {
  id: number;
  username: string;
  name: string;
  isAdmin: boolean;
  state: string;
}

/**
 * The credentials strategies authenticate with, by `type`: each maps to the record its strategy
 * resolved (a token row, an agent with its token). Empty here; a plugin that provides a strategy adds
 * its kinds by declaration merging on `gatehouse`, as with {@link PluginServices}:
 *
 * ```ts
 * declare module 'gatehouse' {
 *   interface CredentialKinds { personal_access_token: AccessToken }
 * }
 * ```
 *
 * A handler then narrows `principal.credential` by `type` and reads `details` typed, without importing
 * the providing plugin's files or looking the credential up again.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface CredentialKinds {}

/** One kind of credential: its `type`, the id of its record, and the record as the strategy resolved it. */
export interface CredentialOf<K extends keyof CredentialKinds> {
  type: K;
  id: number;
  /** What the strategy found; shared with the strategy's cache, so treat it as read-only. */
  details: CredentialKinds[K];
}

/** The credential that authenticated a request: one of the {@link CredentialKinds}, told apart by `type`. */
export type PrincipalCredential = { [K in keyof CredentialKinds]: CredentialOf<K> }[keyof CredentialKinds];

/** Who is calling: a user (with the credential they used), a trusted service, or nobody. */
export interface Principal {
  kind: 'user' | 'service' | 'anonymous';
  user?: PrincipalUser;
  /** Set when an admin used `Sudo`: the admin who really authenticated. */
  sudoer?: PrincipalUser;
  /** What authenticated the request, as the strategy resolved it (kept under `Sudo`). */
  credential?: PrincipalCredential;
  /** For `kind: 'service'`: which service (e.g. `gitlab-shell`). */
  service?: string;
}

/** The auth requirement of a route. `none` must say why the route is public. */
export type RouteAuth =
  | { strategy: 'none'; reason: string }
  | { strategy: string; scopes?: readonly string[]; reason?: string };

export interface GatehouseState {
  requestId: string;
  /** Name of the matched route (`<plugin>.<action>`), for logs and metrics. */
  routeName?: string;
  /** Query, body and path parameters merged as Grape does (path wins, then body, then query). */
  params: Record<string, unknown>;
  principal?: Principal;
}

export type GatehouseContext = ParameterizedContext<GatehouseState>;

/**
 * Turns a request into a Principal, or throws an ApiError (401/403). `P` is what the strategy works out
 * once per route at boot (e.g. the scopes a route accepts): core calls `prepare` once for each route
 * naming the strategy, while it builds the route's pipeline, and hands the result to every
 * `authenticate` of that route. A strategy that prepares nothing leaves `P` out. A strategy may answer
 * synchronously (core awaits only a promise): the hot paths cost no await that way.
 */
export interface AuthStrategy<P = void> {
  prepare?(auth: RouteAuth, route: Pick<RouteDefinition, 'name' | 'method' | 'path'>): P;
  authenticate(ctx: GatehouseContext, auth: RouteAuth, prepared: P): Promise<Principal> | Principal;
  /** The credentials it reads, for the OpenAPI document; without it, operations name the strategy only. */
  openapi?: AuthStrategyDocs;
}

/** An OpenAPI 3.1 security scheme: one credential a strategy reads, and where from. */
export type SecurityScheme =
  | { type: 'apiKey'; in: 'header' | 'query' | 'cookie'; name: string; description: string }
  | { type: 'http'; scheme: 'bearer' | 'basic'; bearerFormat?: string; description: string };

/**
 * What a strategy accepts, as the OpenAPI document states it: its schemes by name, and the alternatives
 * a caller may send, each a set of schemes sent together (`[]` alone: no credential at all will do).
 */
export interface AuthStrategyDocs {
  schemes: Readonly<Record<string, SecurityScheme>>;
  alternatives: ReadonlyArray<readonly string[]>;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A rate limit on one route: `max` requests per `windowMs`, keyed by user (else client IP), IP, or a function. */
export interface RateLimitSpec {
  /** Requests allowed per window; a function reads it from the plugin's config slice at boot. */
  max: number | ((pluginConfig: any) => number);
  windowMs: number;
  by: 'user' | 'ip' | ((ctx: GatehouseContext) => string);
  /** Extra headers on the 429 (e.g. `X-GitLab-Error-Origin`). */
  headers?: Record<string, string>;
  /** Requests this returns true for are neither counted nor limited (GitLab exempts admins from some limits). */
  skip?: (ctx: GatehouseContext) => boolean;
  /**
   * Routes naming the same scope share one count per caller (e.g. the routes one proxy entry makes,
   * one per method); by default each route counts on its own.
   */
  scope?: string;
}

/** One route of a plugin. Everything but the handler is declaration; the loader builds the middleware. */
export interface RouteDefinition<S = unknown, I extends z.ZodType | undefined = z.ZodType | undefined> {
  name: string;
  method: HttpMethod;
  path: string;
  /** One line for the OpenAPI document. */
  summary?: string;
  /** More for the OpenAPI document (CommonMark). */
  description?: string;
  /** The status a success answers with, for the OpenAPI document; without it, any 2xx. */
  successStatus?: number;
  auth: RouteAuth;
  flag?: string;
  rateLimit?: RateLimitSpec;
  /**
   * Headers added to every error this route answers with, whichever stage raised it (authentication,
   * flag gate, body limit, rate limit, validation, handler) — e.g. `X-GitLab-Error-Origin: monolith`,
   * which tells Code Suggestions clients the error is the gateway's own, not an upstream's.
   */
  errorHeaders?: Readonly<Record<string, string>>;
  /**
   * The request body is left unread for the handler (e.g. streamed upstream as it arrives): no body
   * parsing, no body params, no body limit but the handler's own.
   */
  rawBody?: boolean;
  /** Validates the merged params; failures become Grape-style 400 `{"error":"x is missing"}`. */
  input?: I;
  /** Grape's rules over several params of `input` (`exactly_one_of`, `mutually_exclusive`, …). */
  inputGroups?: readonly ParamGroup[];
  /**
   * Headers every answer of this route carries, decided once the caller is authenticated: they are set
   * before the rate limit and validation, so refusals (a 429 included) carry them too.
   */
  responseHeaders?: (ctx: GatehouseContext, services: S) => Record<string, string> | undefined;
  handler: (
    ctx: GatehouseContext,
    input: I extends z.ZodType ? z.output<I> : Record<string, unknown>,
    services: S,
  ) => Promise<void> | void;
}

/** Publishes invalidation messages to every instance (Redis pub/sub when configured, in-process otherwise). */
export interface InvalidationBus {
  /**
   * Delivers `message` to this instance's handlers at once, then to the other instances. Settles (never
   * rejects) once Redis took the message, or failed to: a lost message is logged, and the caches' TTL
   * bounds what it leaves stale.
   */
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): void;
  /** True when messages reach other instances (Redis); caches may then live longer. */
  readonly distributed: boolean;
  /** Records a cache and its TTL, so readiness can state how stale a lost invalidation leaves it. */
  registerCache?(name: string, ttlMs: number): void;
}

/** The product's version, as `/api/v4/version` and `/internal/check` report it. */
export interface VersionInfo {
  version: string;
  revision: string;
}

/** Everything a plugin's services receive. Nothing else: no env, no singletons. */
export interface PluginDeps<C = Record<string, unknown>, D extends keyof PluginServices = never> {
  /** This plugin's config slice (validated, frozen). */
  config: C;
  /** Core settings plugins may read. */
  app: Pick<AppConfig, 'externalUrl' | 'dataDir' | 'rootToken'> & {
    version: VersionInfo;
    /** `redis.keyPrefix`: plugins that keep their own Redis keys put it in front of them. */
    redisKeyPrefix: string;
  };
  db: Knex;
  flags: FlagResolver;
  logger: Logger;
  clock: Clock;
  secrets: SecretStore;
  bus: InvalidationBus;
  redis?: Redis;
  /**
   * The registry `/-/metrics` serves. A plugin registers its own metrics on it (named
   * `gatehouse_<area>_…`), e.g. a gauge whose `collect()` reads shared state at scrape time.
   */
  metrics: Registry;
  /** Where plugins create their upstream HTTP services (pooled, streamed, timed out, reported in readiness). */
  upstreams: Upstreams;
  /**
   * The instance key (`signing.keyFile`, with `signing.previousKeyFiles`), loaded once by core: it signs
   * gatehouse's JWTs, and core publishes it at `/oauth/discovery/keys` whichever plugins are enabled.
   */
  instanceKeys: InstanceKeys;
  /** Adds fields to the OpenID discovery document core serves at `/.well-known/openid-configuration`. */
  discovery: Discovery;
  /** Services exported by the plugins named in `dependsOn`. */
  plugins: Pick<PluginServices, D>;
}

/** A plugin's routes, declared as an array or made from its validated config slice. */
export type PluginRoutes<C = any, S = unknown> =
  | readonly RouteDefinition<S, any>[]
  | ((config: C) => readonly RouteDefinition<S, any>[]);

/**
 * A plugin's manifest: everything the core needs to know, declared. `services` is the composition root
 * (built once at boot); `authStrategies` maps strategy names to factories over the services.
 */
export interface PluginManifest<
  N extends string = string,
  C extends z.ZodObject = z.ZodObject,
  S = unknown,
  D extends keyof PluginServices = never,
> {
  name: N;
  version: string;
  /** Core versions this plugin works with (`^1.0.0`). */
  core: string;
  description: string;
  dependsOn?: readonly D[];
  config?: C;
  flags?: readonly FlagDefinition[];
  /**
   * Flags made from the plugin's validated config slice, declared as well as `flags` (for plugins whose
   * routes, and so their flags, come from config).
   */
  configFlags?: (config: z.output<C> & { enabled: boolean }) => readonly FlagDefinition[];
  migrations?: Record<string, Knex.Migration>;
  services?: (deps: PluginDeps<z.output<C> & { enabled: boolean }, D>) => S | Promise<S>;
  authStrategies?: Record<string, (services: S) => AuthStrategy<unknown>>;
  /**
   * The plugin's routes: an array, or a function of the plugin's validated config slice for plugins
   * whose routes come from config. The loader calls it once at boot, before any service is built.
   */
  routes?: PluginRoutes<z.output<C> & { enabled: boolean }, S>;
  /** Runs once after migrations and before the gateway listens (e.g. seeding the root admin). */
  bootstrap?: (services: S) => Promise<BootstrapResult | void> | BootstrapResult | void;
  /** Releases what the services hold (timers, connections). Called on shutdown in reverse load order. */
  close?: (services: S) => Promise<void> | void;
}

/** What a bootstrap hook wants the operator to see once (printed by the CLI to stdout, never logged). */
export interface BootstrapResult {
  notices: string[];
}

/** A manifest with its type parameters erased, as the registry and loader hold them. */
export type AnyPluginManifest = PluginManifest<string, z.ZodObject, any, any>;

/** Declares a plugin. Identity at runtime; it exists for type inference. */
export function definePlugin<
  const N extends string,
  C extends z.ZodObject,
  S,
  D extends keyof PluginServices = never,
>(manifest: PluginManifest<N, C, S, D>): PluginManifest<N, C, S, D> {
  return manifest;
}

/**
 * Typed route declarations for a plugin's services: `const route = routeFor<MyServices>()` then
 * `route({ …, input: Schema, handler: (ctx, input, services) => … })` infers `input` from the schema.
 */
export function routeFor<S>() {
  return <I extends z.ZodType | undefined = undefined>(route: RouteDefinition<S, I>): RouteDefinition<S, I> => route;
}
