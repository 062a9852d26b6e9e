import { ServerResponse, createServer, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders, type RequestListener, type Server } from 'node:http';

/** The headers every answer carries besides its request id (GitLab sets these on every API response). */
const FIXED_STANDARD_HEADERS = ['X-Content-Type-Options', 'nosniff', 'X-Frame-Options', 'SAMEORIGIN'] as const;

/**
 * A response that adds the standard headers (`X-Request-Id`, `X-Content-Type-Options`,
 * `X-Frame-Options`) when its head is written instead of when the request starts. Why: a header set
 * with `setHeader` gives the response Node's header table, and from then on every header goes through
 * it — validated and stored one by one, then serialised — while a head written in one `writeHead` call
 * with a flat list takes Node's fast path. A relayed answer writes its head that way (see
 * `appendStandardHeaders`); gatehouse's own answers set theirs as before, and the standard ones join
 * them in `writeHead`, unless the answer set its own value (a page's `X-Frame-Options: DENY`).
 *
 * Servers created with `createGatewayServer` use it; on any other server (`createServer(app.callback())`)
 * the standard headers are set as the request starts, to the same effect.
 */
export class GatehouseResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  /** The request id of an answer whose head still has to get the standard headers. */
  owedRequestId: string | undefined = undefined;

  override writeHead(statusCode: number, reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    const requestId = this.owedRequestId;
    if (requestId !== undefined) {
      this.owedRequestId = undefined;
      // Headers passed here win over ones set earlier (Node's rule), so the standard ones are set only
      // where neither names them.
      const passed = typeof reason === 'string' ? headers : (headers ?? reason);
      setUnlessNamed(this, passed, 'X-Request-Id', requestId);
      for (let i = 0; i < FIXED_STANDARD_HEADERS.length; i += 2) setUnlessNamed(this, passed, FIXED_STANDARD_HEADERS[i], FIXED_STANDARD_HEADERS[i + 1]);
    }
    return super.writeHead(statusCode, reason as string, headers);
  }
}

function setUnlessNamed(res: ServerResponse, passed: OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined, name: string, value: string): void {
  if (res.hasHeader(name) || (passed !== undefined && names(passed, name))) return;
  res.setHeader(name, value);
}

/** Whether `headers` (an object or a flat `[name, value, …]` list) names `name`. */
function names(headers: OutgoingHttpHeaders | OutgoingHttpHeader[], name: string): boolean {
  const lower = name.toLowerCase();
  if (!Array.isArray(headers)) return Object.keys(headers).some((key) => key.toLowerCase() === lower);
  for (let i = 0; i < headers.length; i += 2) if (String(headers[i]).toLowerCase() === lower) return true;
  return false;
}

/**
 * Marks `res` as owing the standard headers, to be added with its head; sets them at once when `res`
 * is not a GatehouseResponse (a server created without `createGatewayServer`).
 */
export function oweStandardHeaders(res: ServerResponse, requestId: string): void {
  if (res instanceof GatehouseResponse) {
    res.owedRequestId = requestId;
    return;
  }
  res.setHeader('X-Request-Id', requestId);
  for (let i = 0; i < FIXED_STANDARD_HEADERS.length; i += 2) res.setHeader(FIXED_STANDARD_HEADERS[i], FIXED_STANDARD_HEADERS[i + 1]);
}

/**
 * Writes the head of `res` from a flat list of lower-case names and values (repeated names are
 * repeated lines, Set-Cookie above all), with the standard headers it owes, except those the list or
 * the response names already (a relayed answer's own `X-Frame-Options` stands). Headers set on the
 * response earlier stay unless the list names them. Node only sends the head with the first bytes of
 * the body; until then nothing is on the wire.
 */
export function writeListedHead(res: ServerResponse, statusCode: number, head: string[]): void {
  if (res instanceof GatehouseResponse && res.owedRequestId !== undefined) {
    const requestId = res.owedRequestId;
    res.owedRequestId = undefined;
    if (!res.hasHeader('X-Request-Id') && !namedInList(head, 'x-request-id')) head.push('X-Request-Id', requestId);
    for (let i = 0; i < FIXED_STANDARD_HEADERS.length; i += 2) {
      const name = FIXED_STANDARD_HEADERS[i];
      if (!res.hasHeader(name) && !namedInList(head, name.toLowerCase())) head.push(name, FIXED_STANDARD_HEADERS[i + 1]);
    }
  }
  // Nothing set earlier: the list is the whole head, Node's fast path.
  if (res.getHeaderNames().length === 0) {
    res.writeHead(statusCode, head);
    return;
  }
  // Node 20's writeHead would set the list's headers one by one, each repeated name replacing the last.
  const replaced = new Set<string>();
  for (let i = 0; i < head.length; i += 2) {
    const name = head[i].toLowerCase();
    if (!replaced.has(name)) {
      replaced.add(name);
      res.removeHeader(name);
    }
    res.appendHeader(name, head[i + 1]);
  }
  res.writeHead(statusCode);
}

function namedInList(head: readonly string[], lowerCaseName: string): boolean {
  for (let i = 0; i < head.length; i += 2) if (head[i] === lowerCaseName) return true;
  return false;
}

/** An HTTP server whose responses are GatehouseResponses: what `npm start` and `gatehouse/testing` serve with. */
export function createGatewayServer(listener?: RequestListener): Server {
  return createServer({ ServerResponse: GatehouseResponse as typeof ServerResponse }, listener);
}
