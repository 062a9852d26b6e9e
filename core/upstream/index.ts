import type { Readable } from 'node:stream';
import type { Pool } from 'undici';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CounterFamily, HistogramFamily, type CounterChild, type HistogramChild } from '../ops/metric-families.js';
import type { GatehouseContext } from '../plugins/types.js';
import { RelayHandler, type RelayAnswerOptions, type RelayObserver } from './relay-handler.js';

export { BadGatewayError, GatewayTimeoutError } from './errors.js';
export { HOP_BY_HOP } from './relay-handler.js';
export type { RelayAnswerOptions } from './relay-handler.js';

/** A target that refused this many connections in a row is skipped for a while (passive health check). */
export const REFUSALS_BEFORE_SKIP = 3;
/** How long a target that kept refusing connections is skipped. */
export const SKIP_MS = 10_000;

/** One upstream service: one or more interchangeable targets, and how long they may take. */
export interface UpstreamOptions {
  /** Names the upstream in logs, metrics and readiness (a route name, or `ai-gateway`). */
  name: string;
  /** Base URLs (`http(s)://host:port/optional/base/path`); several are load-balanced round robin. */
  targets: readonly string[];
  /** Keep-alive connections per target. */
  connections?: number;
  /** How long the upstream may take to send its response headers; then 504. */
  firstByteTimeoutMs: number;
  /** How long the upstream may pause between two chunks of its answer (default: firstByteTimeoutMs). */
  idleTimeoutMs?: number;
  /** How long a connection may take to open (default: firstByteTimeoutMs, at most 10 s). */
  connectTimeoutMs?: number;
  /** How long a target that kept refusing connections is skipped (default SKIP_MS). */
  skipMs?: number;
}

/** One request to relay. */
export interface RelayRequest extends RelayAnswerOptions {
  method: string;
  /** Appended to the target's base path; includes the query string when there is one. */
  path: string;
  headers: Record<string, string | string[]>;
  /** A string or Buffer, or the client's request stream passed on as it arrives. */
  body?: string | Buffer | Readable | null;
  /**
   * Send the request once more to the next target when its connection failed before anything was
   * sent. Only for idempotent requests whose body can be sent twice (no stream).
   */
  retry?: boolean;
}

/** What readiness shows of an upstream. */
export interface UpstreamStatus {
  targets: number;
  /** Targets not being skipped by the passive health check. */
  live: string[];
}

/** A relay that has started: `ready` settles when the client's response is set up, or fails (502/504/…). */
export interface RelayInFlight {
  ready: Promise<void>;
  /** Fails the relay with `error` if no answer has begun (e.g. the request body went over its limit). */
  failWith(error: unknown): void;
}

interface UpstreamMetrics {
  /** Labels `upstream`, `outcome`. */
  requests: CounterFamily;
  /** Label `upstream`. */
  firstByte: HistogramFamily;
}

const metricsByRegistry = new WeakMap<Registry, UpstreamMetrics>();

/** The upstream metrics of a registry, created with the first upstream registered on it. */
function upstreamMetrics(registry: Registry): UpstreamMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (!metrics) {
    metrics = {
      requests: new CounterFamily(
        'gatehouse_upstream_requests_total',
        'Requests relayed to upstream services, by upstream and outcome (status class, unreachable, timeout, retried, broken, aborted).',
        ['upstream', 'outcome'],
        registry,
      ),
      firstByte: new HistogramFamily(
        'gatehouse_upstream_first_byte_seconds',
        'Time from sending a request upstream to its response headers, by upstream.',
        ['upstream'],
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registry,
      ),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

/** One target of an upstream: its pool and its passive health. */
/** @internal */
export class Target {
  readonly origin: string;
  readonly basePath: string;
  pool?: Pool;
  refusals = 0;
  skippedUntil = 0;

  constructor(readonly url: string) {
    const parsed = new URL(url);
    this.origin = parsed.origin;
    this.basePath = parsed.pathname.replace(/\/+$/, '');
  }

  live(now: number): boolean {
    return this.skippedUntil <= now;
  }
}

type UndiciModule = typeof import('undici');
let undici: UndiciModule | undefined;
let undiciLoading: Promise<UndiciModule> | undefined;
/** undici is loaded with the first relayed request: a gateway that never relays does not pay for it at boot. */
const loadUndici = () =>
  (undiciLoading ??= import('undici').then((module) => {
    undici = module;
    return module;
  }));

/** Metric children bound once per upstream and outcome. */
/** @internal */
export class BoundMetrics {
  private readonly outcomes = new Map<string, CounterChild>();
  readonly firstByte: HistogramChild;

  constructor(
    private readonly metrics: UpstreamMetrics,
    private readonly upstream: string,
  ) {
    this.firstByte = metrics.firstByte.labels(upstream);
  }

  count(outcome: string): void {
    let child = this.outcomes.get(outcome);
    if (!child) this.outcomes.set(outcome, (child = this.metrics.requests.labels(this.upstream, outcome)));
    child.inc();
  }
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/**
 * One relayed request as the upstream sees it: the target it went to, its health-check and metrics
 * reports, and its single retry. One object per request rather than a closure per callback.
 */
class Attempt implements RelayObserver {
  handler!: RelayHandler;
  private retried = false;
  private sentAt = 0n;
  private module?: UndiciModule;

  constructor(
    private readonly upstream: Upstream,
    private readonly request: RelayRequest,
    private target: Target,
  ) {}

  dispatch(module: UndiciModule): void {
    this.module = module;
    this.sentAt = process.hrtime.bigint();
    this.upstream.send(this.target, this.request, this.handler, module);
  }

  answered(status: number): void {
    this.target.refusals = 0;
    const metrics = this.upstream.metrics;
    metrics.firstByte.observe(Number(process.hrtime.bigint() - this.sentAt) / 1e9);
    metrics.count(STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'other');
  }

  failed(error: Error, sentNothing: boolean): boolean {
    this.upstream.connectionFailed(this.target, error);
    if (sentNothing && this.request.retry && !this.retried) {
      const next = this.upstream.retryTarget(this.target);
      if (next) {
        this.retried = true;
        this.upstream.metrics.count('retried');
        this.target = next;
        this.dispatch(this.module!);
        return true;
      }
    }
    this.upstream.metrics.count((error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timeout' : 'unreachable');
    return false;
  }

  ended(outcome: 'complete' | 'broken' | 'aborted'): void {
    if (outcome !== 'complete') this.upstream.metrics.count(outcome);
  }
}

/**
 * An upstream HTTP service behind undici keep-alive pools (one per target; not fetch, see DESIGN §7):
 * bodies streamed both ways, explicit first-byte and idle timeouts, round robin over its targets with
 * a passive health check (a target refusing REFUSALS_BEFORE_SKIP connections in a row is skipped for
 * SKIP_MS), an optional single retry on the next target, and per-upstream metrics.
 */
export class Upstream {
  private readonly targets: Target[];
  private next = 0;
  private closed = false;
  private readonly bound: BoundMetrics;

  constructor(
    private readonly options: UpstreamOptions,
    private readonly logger: Logger,
    metrics: UpstreamMetrics,
  ) {
    if (options.targets.length === 0) throw new Error(`upstream ${options.name} has no targets`);
    this.targets = options.targets.map((url) => new Target(url.replace(/\/+$/, '')));
    this.bound = new BoundMetrics(metrics, options.name);
  }

  get name(): string {
    return this.options.name;
  }

  /** The first target's base URL (without trailing slash). */
  get baseUrl(): string {
    return this.targets[0].url;
  }

  status(now = Date.now()): UpstreamStatus {
    return { targets: this.targets.length, live: this.targets.filter((target) => target.live(now)).map((target) => target.url) };
  }

  /** The next target round robin, skipping those the health check set aside (unless all are). */
  private pick(after?: Target): Target {
    const targets = this.targets;
    if (targets.length === 1) return targets[0];
    const now = Date.now();
    const start = after ? targets.indexOf(after) + 1 : this.next++;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(start + i) % targets.length];
      if (target !== after && target.live(now)) return target;
    }
    return targets[start % targets.length];
  }

  private poolOf(target: Target, undici: UndiciModule): Pool {
    if (target.pool) return target.pool;
    const { firstByteTimeoutMs, idleTimeoutMs, connectTimeoutMs, connections } = this.options;
    target.pool = new undici.Pool(target.origin, {
      connections: connections ?? 64,
      headersTimeout: firstByteTimeoutMs,
      bodyTimeout: idleTimeoutMs ?? firstByteTimeoutMs,
      connect: { timeout: connectTimeoutMs ?? Math.min(firstByteTimeoutMs, 10_000) },
    });
    if (this.closed) void target.pool.close();
    return target.pool;
  }

  /**
   * Sends `request` upstream and relays the answer onto `ctx` (see RelayHandler). The returned
   * promise settles once the client's response is set up: its status and headers, and its body or a
   * stream of it. A client that goes away aborts the upstream request.
   */
  relay(ctx: GatehouseContext, request: RelayRequest): Promise<void> {
    if (undici) return this.begin(ctx, request, undici).ready;
    return loadUndici().then((module) => this.begin(ctx, request, module).ready);
  }

  /**
   * As `relay`, but hands back the relay in flight (so the caller can still fail it) — at once when
   * undici is loaded (no await on the hot path), else once it is.
   */
  start(ctx: GatehouseContext, request: RelayRequest): RelayInFlight | Promise<RelayInFlight> {
    if (undici) return this.begin(ctx, request, undici);
    return loadUndici().then((module) => this.begin(ctx, request, module));
  }

  private begin(ctx: GatehouseContext, request: RelayRequest, module: UndiciModule): RelayHandler {
    const attempt = new Attempt(this, request, this.pick());
    const handler = new RelayHandler(ctx, request, this.options.name, this.logger, attempt);
    attempt.handler = handler;
    attempt.dispatch(module);
    return handler;
  }

  /** @internal One attempt's dispatch on `target`. */
  send(target: Target, request: RelayRequest, handler: RelayHandler, module: UndiciModule): void {
    this.poolOf(target, module).dispatch(
      {
        path: target.basePath + request.path,
        method: request.method as never,
        headers: request.headers,
        body: request.body ?? null,
        headersTimeout: this.options.firstByteTimeoutMs,
      },
      handler,
    );
  }

  /** @internal The health check's verdict on a failed connection; whether a retry may go elsewhere. */
  connectionFailed(target: Target, error: Error): void {
    if ((error as { code?: string }).code !== 'ECONNREFUSED' || ++target.refusals < REFUSALS_BEFORE_SKIP) return;
    if (target.skippedUntil <= Date.now()) this.logger.warn({ upstream: this.options.name, target: target.url }, 'upstream target refuses connections: skipped for a while');
    target.skippedUntil = Date.now() + (this.options.skipMs ?? SKIP_MS);
    // Back from the skip, it gets REFUSALS_BEFORE_SKIP more chances.
    target.refusals = 0;
  }

  /** @internal The next target for a retry, or undefined when there is none to retry on. */
  retryTarget(after: Target): Target | undefined {
    return this.targets.length > 1 && !this.closed ? this.pick(after) : undefined;
  }

  /** @internal */
  get metrics(): BoundMetrics {
    return this.bound;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.targets.map((target) => target.pool?.close()));
  }
}

/** Every upstream of a gateway: plugins create theirs here; readiness and shutdown go through it. */
export interface Upstreams {
  /** A new upstream, named in logs, metrics and readiness; closed with the gateway. */
  create(options: UpstreamOptions): Upstream;
  /** Each upstream's targets and the live ones, by name. */
  status(): Record<string, UpstreamStatus>;
  close(): Promise<void>;
}

export function createUpstreams(deps: { registry: Registry; logger: Logger }): Upstreams {
  const all: Upstream[] = [];
  return {
    create(options) {
      const upstream = new Upstream(options, deps.logger, upstreamMetrics(deps.registry));
      all.push(upstream);
      return upstream;
    },
    status() {
      const now = Date.now();
      return Object.fromEntries(all.map((upstream) => [upstream.name, upstream.status(now)]));
    },
    async close() {
      await Promise.all(all.map((upstream) => upstream.close()));
    },
  };
}
