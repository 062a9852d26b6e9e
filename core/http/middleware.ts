import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import getRawBody from 'raw-body';
import { parse as parseJson } from '@hapi/bourne';
import qs from 'qs';
import type { Logger } from 'pino';
import { ApiError, BadRequestError, INTERNAL_ERROR_BODY, MalformedStringError, PayloadTooLargeError } from '../errors.js';
import type { GatehouseContext, GatehouseState } from '../plugins/types.js';
import { oweStandardHeaders } from './response.js';

/** A client-sent request id is echoed only when it is short and printable (it lands in logs). */
const SAFE_REQUEST_ID = /^[\w.:@+\/=-]{1,128}$/;

/** Request id, and the headers every response carries (GitLab sets these on every API response), added with its head. */
export function startRequest(ctx: GatehouseContext): void {
  const sent = ctx.req.headers['x-request-id'];
  const requestId = typeof sent === 'string' && SAFE_REQUEST_ID.test(sent) ? sent : randomUUID();
  // Every field at once, in one order: one object shape for every request's state, so the code
  // reading it stays monomorphic.
  ctx.state = { requestId, params: {}, routeName: undefined, principal: undefined };
  oweStandardHeaders(ctx.res, requestId);
}

/** zlib's codes for a compressed body that does not inflate: not compressed as labelled, or cut short. */
const INFLATE_ERROR_CODES = new Set(['Z_DATA_ERROR', 'Z_BUF_ERROR', 'Z_STREAM_ERROR', 'Z_NEED_DICT']);
export const UNREADABLE_COMPRESSED_BODY = 'Malformed request body: the compressed body does not decompress';

/** Turns body-parser failures into GitLab's 400/413 bodies. */
function fromBodyParserError(error: { status?: number; type?: string; message?: string; code?: string }): ApiError | undefined {
  if (error.status === 413 || error.type === 'entity.too.large') return new PayloadTooLargeError();
  // The client's bytes are at fault, not the server: @koa/bodyparser passes zlib's error on unchanged.
  if (error.code !== undefined && INFLATE_ERROR_CODES.has(error.code)) return new BadRequestError(UNREADABLE_COMPRESSED_BODY);
  if (error.status === 400 || error.type === 'entity.parse.failed' || error instanceof SyntaxError) {
    return new BadRequestError(`Malformed request body: ${error.message ?? 'unparsable'}`);
  }
  if (error.status === 415) return new ApiError(415, { message: '415 Unsupported Media Type' });
  return undefined;
}

/**
 * The single place error bodies are written. ApiErrors carry their GitLab body; anything else is a
 * bug or an outage: the client gets the generic 500 body and the cause goes to the log with the id.
 */
export function writeError(ctx: GatehouseContext, caught: unknown, logger: Logger): void {
  const error = caught instanceof ApiError ? caught : fromBodyParserError(caught as never);
  if (error) {
    ctx.status = error.status;
    ctx.set(error.headers);
    ctx.body = error instanceof MalformedStringError ? error.text : error.body;
    return;
  }
  logger.error({ err: caught, requestId: ctx.state.requestId, route: ctx.state.routeName }, 'request failed');
  ctx.status = 500;
  ctx.body = INTERNAL_ERROR_BODY;
}

/** RFC 8259 whitespace then `{` or `[`: bodies are objects or arrays, as co-body's strict mode requires. */
const STRICT_JSON = /^[\x20\x09\x0a\x0d]*[[{]/;
const PLAIN_JSON_WITH_CHARSET = /^application\/json\s*;\s*charset=utf-8$/i;

/**
 * JSON and form bodies with a size limit. Raw text is never parsed: nothing here takes it.
 *
 * Plain JSON (`application/json`, no content encoding) — what GitLab Shell, Gitaly and the client
 * libraries send — is read with raw-body and parsed with bourne, the two libraries co-body itself
 * uses, without the media-type parsing, stream inflation and charset decoding @koa/bodyparser does
 * per request (a tenth of `/internal/allowed`'s CPU). Everything else (forms, other JSON types,
 * compressed bodies, charsets) goes through @koa/bodyparser. Limits, strictness and the
 * prototype-poisoning guard are the same on both paths.
 */
export function parseBody(limitBytes: number): Middleware<GatehouseState> {
  let general: Middleware<GatehouseState> | undefined;
  const generalParser = async () =>
    (general ??= (await loadBodyParser()).bodyParser({
      enableTypes: ['json', 'form'],
      jsonLimit: limitBytes,
      formLimit: limitBytes,
      parsedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'],
      // co-body's form parser is qs: `scopes[]=a&scopes[]=b` arrive as arrays.
    }) as unknown as Middleware<GatehouseState>);
  return async function parseBody(ctx, next) {
    const { headers } = ctx.req;
    const type = headers['content-type'];
    const plainJson = (type === 'application/json' || (type !== undefined && PLAIN_JSON_WITH_CHARSET.test(type))) && !headers['content-encoding'];
    if (!plainJson) return (general ?? (await generalParser()))(ctx, next);
    const text = (await getRawBody(ctx.req, { length: headers['content-length'] || undefined, limit: limitBytes })).toString('utf8');
    if (text === '') (ctx.request as { body?: unknown }).body = {};
    else if (!STRICT_JSON.test(text)) throw Object.assign(new SyntaxError('invalid JSON, only supports object and array'), { status: 400 });
    else (ctx.request as { body?: unknown }).body = parseJson(text, { protoAction: 'error' });
    return next();
  };
}

/**
 * @koa/bodyparser and what it brings (co-body, inflation, iconv-lite: 1.8 MB of RSS), loaded with the
 * first body that is not plain JSON. The hot routes' clients (GitLab Shell, the editor extensions)
 * send plain JSON only, so a gateway serving them never loads it.
 */
let bodyParserModule: Promise<typeof import('@koa/bodyparser')> | undefined;
const loadBodyParser = () => (bodyParserModule ??= import('@koa/bodyparser'));

const QS_OPTIONS: qs.IParseOptions = { depth: 5, arrayLimit: 100, parameterLimit: 1000 };

/**
 * Merges parameters as Grape does: query, then body, then path parameters on top. Query arrays
 * (`scopes[]=a&scopes[]=b`) and nested keys (`context[0][type]`) are parsed with qs.
 */
export function collectParams(ctx: GatehouseContext): Record<string, unknown> {
  const query = ctx.querystring ? (qs.parse(ctx.querystring, QS_OPTIONS) as Record<string, unknown>) : {};
  const body = (ctx.request as { body?: unknown }).body;
  const bodyParams = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  return { ...query, ...bodyParams, ...(ctx.params as Record<string, string> | undefined) };
}

const NUL = '\u0000';
/**
 * `%00` in the raw path or query string: percent-decoding makes a NUL byte from nothing else (a raw
 * one never gets past Node's HTTP parser). Checked before decoding, so a parameter that the merge of
 * query, body and path drops is checked too.
 */
const ENCODED_NUL = '%00';

/** Whether a string, or any key or string inside an array or object, holds a NUL byte; walked without recursion. */
function holdsNullByte(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length) {
    const current = pending.pop();
    if (typeof current === 'string') {
      if (current.includes(NUL)) return true;
    } else if (Array.isArray(current)) {
      // One by one: spreading a body's huge array into push() would overflow the call stack.
      for (const item of current) pending.push(item);
    } else if (current && typeof current === 'object') {
      for (const key of Object.keys(current)) {
        if (key.includes(NUL)) return true;
        pending.push((current as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/**
 * Refuses a NUL byte in the path or in any parameter (query, body, path) with GitLab's 400 `Bad Request`.
 * No stored string may hold one: PostgreSQL refuses it in text columns (an error, not an answer), and
 * SQLite would store what GitLab never accepts.
 */
export function rejectNullBytes(ctx: GatehouseContext): void {
  const { body } = ctx.request as { body?: unknown };
  if (ctx.path.includes(ENCODED_NUL) || ctx.querystring.includes(ENCODED_NUL) || holdsNullByte(body)) throw new MalformedStringError();
}
