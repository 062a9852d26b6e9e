import { Agent, request } from 'node:http';

/**
 * Clients that loop on keep-alive connections (one socket each, as a connection pool does) until the
 * server stops accepting, to see what a shutdown does to requests already on the wire.
 */

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Answer {
  status: number;
  /** The `Connection` header of the answer (`keep-alive` or `close`). */
  connection: string | undefined;
  body: string;
}

/** A request that failed after it may have been sent: what a shutdown must never cause. */
export interface Failure {
  client: number;
  request: LoadRequest;
  code: string | undefined;
  message: string;
  /** True when the request went out on a socket an earlier request had used. */
  reusedSocket: boolean;
}

export interface LoadResult {
  answers: Array<{ client: number; request: LoadRequest; answer: Answer }>;
  /** Requests refused at connect (ECONNREFUSED): never sent, so never run. */
  refused: Array<{ client: number; request: LoadRequest }>;
  failures: Failure[];
}

export interface Load {
  /** Resolves once every client has seen at least `count` answers. */
  warmedUp(count: number): Promise<void>;
  /** Resolves when every client has stopped (refused by the server, or `stop()`ped). */
  finished: Promise<LoadResult>;
  stop(): void;
}

/** Why a request failed, for the assertion message. */
type RequestError = NodeJS.ErrnoException & { reusedSocket?: boolean };

function send(agent: Agent, base: URL, spec: LoadRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const headers: Record<string, string> = { ...(spec.headers ?? {}) };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const req = request({ agent, host: base.hostname, port: base.port, method: spec.method, path: spec.path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
      res.on('error', (error: RequestError) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    });
    req.on('error', (error: RequestError) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(payload);
  });
}

/**
 * Starts `clients` loops against `baseUrl`; client i sends `next(i, n)` as its n-th request. A
 * client stops at its first refused connection (the server no longer accepts) or at `stop()`.
 */
export function keepAliveLoad(baseUrl: string, clients: number, next: (client: number, n: number) => LoadRequest): Load {
  const base = new URL(baseUrl);
  const result: LoadResult = { answers: [], refused: [], failures: [] };
  const answered = new Array<number>(clients).fill(0);
  let stopped = false;
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const wake = () => {
    for (const waiter of [...waiters]) {
      if (answered.every((n) => n >= waiter.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  async function loop(client: number) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let n = 0; !stopped; n += 1) {
        const spec = next(client, n);
        try {
          const answer = await send(agent, base, spec);
          result.answers.push({ client, request: spec, answer });
          answered[client] += 1;
          wake();
        } catch (error) {
          const e = error as RequestError;
          if (e.code === 'ECONNREFUSED') {
            result.refused.push({ client, request: spec });
            return;
          }
          result.failures.push({ client, request: spec, code: e.code, message: e.message, reusedSocket: Boolean(e.reusedSocket) });
        }
      }
    } finally {
      agent.destroy();
    }
  }

  const finished = Promise.all(Array.from({ length: clients }, (_, client) => loop(client))).then(() => result);
  return {
    warmedUp: (count) =>
      new Promise<void>((resolve) => {
        waiters.push({ count, resolve });
        wake();
      }),
    finished,
    stop: () => void (stopped = true),
  };
}
