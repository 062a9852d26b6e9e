import pino, { type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { CounterFamily, HistogramFamily, type CounterChild, type HistogramChild } from './metric-families.js';
import type { GatehouseContext } from '../plugins/types.js';
import { FILTERED_PARAMS, filterUrl, serializeError, serializeLoggedText } from './log-filter.js';

/** Keys of logged objects that hold credentials: the filtered parameters, but `code`, an error's field too. */
const REDACTED_KEYS = FILTERED_PARAMS.filter((name) => name !== 'code');

/** Headers, and keys at the top or one level down of a logged object, whose values are never written. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["private-token"]',
  'req.headers["job-token"]',
  'req.headers["gitlab-shared-secret"]',
  'req.headers["gitlab-shell-api-request"]',
  'req.headers["gitlab-kas-api-request"]',
  'req.headers["gitlab-agent-api-request"]',
  'req.headers.cookie',
  ...REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]),
];

/**
 * The general loggers' options: credential paths redacted, errors through `serializeError` (credentials
 * filtered, no SQL values, bounded length), knex's own messages filtered and bounded too.
 */
export function loggerOptions(level: string): pino.LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
    base: { service: 'gatehouse' },
    serializers: { err: serializeError, knex: serializeLoggedText },
  };
}

/** A logger for short CLI commands: credentials redacted, each line written at once. */
export function createLogger(level: string): Logger {
  return pino(loggerOptions(level), pino.destination({ sync: true }));
}

/** How long log lines wait on the event loop before they are handed to the writer thread, at most. */
const LOG_BATCH_MS = 20;
/** Lines held past this size are handed over at once. */
const LOG_BATCH_BYTES = 64 * 1024;

/**
 * A pino destination that hands lines to `target` in batches: at most every LOG_BATCH_MS, or as soon
 * as LOG_BATCH_BYTES are held, and on `flush()`. pino's transport wakes its writer thread for every
 * event-loop turn that wrote a line (a futex wake, a cross-core interrupt on a VM); under load that is
 * about once per request, a batch wakes it once per LOG_BATCH_MS.
 */
export class BatchedDestination {
  private lines: string[] = [];
  private bytes = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly target: { write(chunk: string): unknown }) {}

  write(line: string): boolean {
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= LOG_BATCH_BYTES) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(this.flush, LOG_BATCH_MS);
      // Held lines never keep the process alive: close() and the exit hook hand them over.
      this.timer.unref();
    }
    return true;
  }

  readonly flush = (): void => {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    const chunk = this.lines.length === 1 ? this.lines[0] : this.lines.join('');
    this.lines = [];
    this.bytes = 0;
    this.target.write(chunk);
  };
}

/**
 * The general logger (`loggerOptions`) and the per-request logger sharing its destination. Request
 * lines are built field by field from values that never hold a credential (the URL goes through
 * `filterUrl`), so they skip the redaction pass that would otherwise run on every request.
 *
 * Lines go to standard output through pino's transport: a worker thread writes them, the event loop
 * only hands them over, in batches (BatchedDestination). Writing from the event loop (sonic-boom, even
 * batched and asynchronous) cost `/internal/allowed` a third of its throughput on a 2-core VM, where
 * every thread-pool write wakes threads. Held lines are handed over by `close()`, and by an exit hook
 * registered before the transport's own (exit hooks run in order), so the worker still writes them
 * when the process exits or crashes.
 */
export function createLoggers(level: string, options: { destination?: pino.DestinationStream } = {}) {
  let batched: BatchedDestination | undefined;
  let destination = options.destination;
  if (!destination) {
    process.once('exit', () => batched?.flush());
    batched = new BatchedDestination(pino.transport({ target: 'pino/file', options: { destination: 1 } }));
    destination = batched;
  }
  const logger = pino(loggerOptions(level), destination);
  return {
    logger,
    requestLogger: pino({ level, base: { service: 'gatehouse' } }, destination),
    /** Where the request logger writes: request lines are built by hand and written here directly (see `requestLine`). */
    requestLines: destination as LineSink,
    /** Hands over what is held; the worker writes it before the process exits. */
    close() {
      batched?.flush();
      logger.flush();
    },
  };
}

export interface Metrics {
  registry: Registry;
  /** Labels `route`, `method`, `status`. */
  requests: CounterFamily;
  /** Label `route`. */
  duration: HistogramFamily;
}

/** Prometheus metrics on a registry of this app's own (no global default registry). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  return {
    registry,
    requests: new CounterFamily('gatehouse_http_requests_total', 'HTTP requests by route name, method and status.', ['route', 'method', 'status'], registry),
    duration: new HistogramFamily(
      'gatehouse_http_request_duration_seconds',
      'HTTP request latency by route name.',
      ['route'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registry,
    ),
  };
}

/**
 * The client's address as Koa reports it (the trusted `X-Forwarded-For` entry, else the socket's), or
 * '' when the socket is already gone: Koa's getter reads `req.socket.remoteAddress` and throws without
 * one — and undici sets `req.socket = null` on a request it relayed as a body.
 */
export function clientIp(ctx: GatehouseContext): string {
  try {
    return ctx.ip;
  } catch {
    return '';
  }
}

/** Where log lines go: a pino destination. */
export interface LineSink {
  write(line: string): unknown;
}

/** What one request line says besides its route and method. */
interface RequestLineFields {
  requestId: string;
  url: string;
  status: number;
  ms: number;
  userId: number | undefined;
  ip: string;
}

/**
 * The request line exactly as `pino({ level, base: { service: 'gatehouse' } }).child({ method, route })
 * .info(fields, 'request')` writes it, built by hand: `head` is the part from `"service"` to `"route"`,
 * serialised once per route and method. Why: pino walks and types every field of every line; built
 * here, the line cost about 2 µs less CPU per request (cpu-profile of `npm run bench:completions`'s
 * completion route, where the request line was the largest part of the request's own bookkeeping).
 * The request id is one gatehouse made or one `startRequest` let through (`[\w.:@+/=-]`, nothing JSON
 * escapes); the URL and IP are escaped by JSON.stringify.
 */
export function requestLine(head: string, fields: RequestLineFields, time = Date.now()): string {
  const user = fields.userId === undefined ? '' : `"userId":${fields.userId},`;
  return `{"level":30,"time":${time},${head},"requestId":"${fields.requestId}","url":${JSON.stringify(fields.url)},"status":${fields.status},"ms":${fields.ms},${user}"ip":${JSON.stringify(fields.ip)},"msg":"request"}\n`;
}

/** `"service":"gatehouse","method":…,"route":…`: pino's base, then the child's bindings. */
export const requestLineHead = (method: string, route: string) => `"service":"gatehouse","method":${JSON.stringify(method)},"route":${JSON.stringify(route)}`;

/**
 * Counts, times and (optionally) logs a finished request under its route name. With `lines` (the
 * request logger's own destination), lines are built by `requestLine` and written there; without
 * (a logger given by the embedder), through the logger.
 */
export function requestObserver(metrics: Metrics, logger: Logger, logRequests: boolean, lines?: LineSink): (ctx: GatehouseContext, startedNs: bigint) => void {
  // Label sets are few (routes × methods × statuses): bind each once, found through nested maps by
  // values the request already holds (no key string built).
  const counters = new Map<string, Map<string, Map<number, CounterChild>>>();
  const timers = new Map<string, HistogramChild>();
  const counterFor = (route: string, method: string, status: number) => {
    let byMethod = counters.get(route);
    if (!byMethod) counters.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (!child) byStatus.set(status, (child = metrics.requests.labels(route, method, String(status))));
    return child;
  };
  const timerFor = (route: string) => {
    let child = timers.get(route);
    if (!child) timers.set(route, (child = metrics.duration.labels(route)));
    return child;
  };
  // Per route and method, what its lines start with: the serialised head of a hand-built line, or
  // (through an embedder's logger) a child logger, whose bindings pino serialises once.
  const lineStarts = new Map<string, Map<string, { head: string; logger?: Logger }>>();
  const lineStartFor = (route: string, method: string) => {
    let byMethod = lineStarts.get(route);
    if (!byMethod) lineStarts.set(route, (byMethod = new Map()));
    let start = byMethod.get(method);
    if (!start) byMethod.set(method, (start = { head: requestLineHead(method, route) }));
    return start;
  };
  const record = (ctx: GatehouseContext, seconds: number, ip: string) => {
    const route = ctx.state.routeName ?? 'unmatched';
    const { method, url } = ctx.req;
    const status = ctx.res.statusCode;
    counterFor(route, method!, status).inc();
    timerFor(route).observe(seconds);
    if (!logRequests) return;
    const fields = { requestId: ctx.state.requestId, url: filterUrl(url!), status, ms: Math.round(seconds * 1e5) / 100, userId: ctx.state.principal?.user?.id, ip };
    const start = lineStartFor(route, method!);
    if (!lines) (start.logger ??= logger.child({ method, route })).info(fields, 'request');
    else if (logger.isLevelEnabled('info')) lines.write(requestLine(start.head, fields));
  };
  // Requests are counted and logged once their answers are written (the same turn of the event loop,
  // in one batch for all the requests it finished), not before: the client does not wait for the
  // metrics and the log line. The duration is taken when the handling ends, as before.
  let pending: Array<{ ctx: GatehouseContext; seconds: number; ip: string }> = [];
  const recordPending = () => {
    const batch = pending;
    pending = [];
    for (const { ctx, seconds, ip } of batch) {
      // This runs outside any request's error handling: whatever goes wrong with one line must not
      // end the process (an exception here would be uncaught).
      try {
        record(ctx, seconds, ip);
      } catch (error) {
        logger.warn({ err: error, requestId: ctx.state.requestId }, 'request not recorded');
      }
    }
  };
  return function observeRequest(ctx, started) {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (pending.length === 0) setImmediate(recordPending);
    // The client's address is read now, while the request still has its socket: by the time the line
    // is written, a connection the server closed (a refused upload it never read) has none.
    pending.push({ ctx, seconds, ip: logRequests ? clientIp(ctx) : '' });
  };
}
