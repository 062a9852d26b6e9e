import { Readable, Stream, pipeline } from 'node:stream';
import type { GatehouseContext } from '../plugins/types.js';

/** Statuses whose answers carry no body (RFC 9110 §15.3.5, §15.3.6, §15.4.5). */
const EMPTY_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * Writes `ctx.body` as the response, as Koa's own `respond` does (koa 3, lib/application.js; Koa runs
 * it after the middleware and does not export it): nothing when a handler wrote the answer itself
 * (`ctx.respond = false`) or the response can no longer be written; no body for 204/205/304 and for
 * HEAD (the length a GET would have); the status text when there is no body; buffers and strings as
 * they are; streams piped with their errors passed to `ctx.onerror`; anything else as JSON.
 */
export function respond(ctx: GatehouseContext): void {
  if (ctx.respond === false) return;
  const { res } = ctx;
  if (!ctx.writable) {
    res.end();
    return;
  }
  const code = ctx.status;
  if (EMPTY_BODY_STATUSES.has(code)) {
    ctx.body = null;
    res.end();
    return;
  }
  let body: unknown = ctx.body;
  if (ctx.method === 'HEAD') {
    if (!res.headersSent && !res.hasHeader('Content-Length')) {
      const { length } = ctx.response;
      if (Number.isInteger(length)) ctx.length = length;
    }
    res.end();
    return;
  }
  if (body === null || body === undefined) {
    if ((ctx.response as { _explicitNullBody?: boolean })._explicitNullBody) {
      ctx.response.remove('Content-Type');
      ctx.response.remove('Transfer-Encoding');
      ctx.length = 0;
      res.end();
      return;
    }
    body = ctx.req.httpVersionMajor >= 2 ? String(code) : ctx.message || String(code);
    if (!res.headersSent) {
      ctx.type = 'text';
      ctx.length = Buffer.byteLength(body as string);
    }
    res.end(body);
    return;
  }
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    res.end(body);
    return;
  }
  let stream: NodeJS.ReadableStream | undefined;
  if (body instanceof Blob) stream = Readable.from(body.stream() as AsyncIterable<Uint8Array>);
  else if (body instanceof ReadableStream) stream = Readable.from(body as AsyncIterable<Uint8Array>);
  else if (body instanceof Response) stream = Readable.from((body.body ?? '') as AsyncIterable<Uint8Array>);
  else if (body instanceof Stream) stream = body as unknown as NodeJS.ReadableStream;
  if (stream) {
    pipeline(stream, res, (error) => {
      if (error && ctx.app.listenerCount('error')) ctx.onerror(error);
    });
    return;
  }
  const json = JSON.stringify(body);
  if (!res.headersSent) ctx.length = Buffer.byteLength(json);
  res.end(json);
}
