/**
 * A battery of malformed and odd requests over declared routes: odd path ids, odd query strings and
 * malformed bodies, each sent with valid credentials so it reaches as deep into the route as it can.
 * It counts the answers by status class and keeps the ones at or above 500, which bad input must
 * never produce.
 */
import { Agent, request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import type { RouteDefinition } from '../../core/plugins/types.js';

/** The part of a route the battery needs. */
export type BatteryRoute = Pick<RouteDefinition, 'name' | 'method' | 'path' | 'auth' | 'input'>;

export interface BatteryOptions {
  /** Base URL of a running gateway. */
  url: string;
  routes: readonly BatteryRoute[];
  /**
   * Headers that authenticate a request to this route (by its auth strategy). Called per request, so a
   * route that revokes its own credential (`DELETE …/self`) can be given a fresh one each time.
   */
  credentials(route: BatteryRoute): Promise<Record<string, string>> | Record<string, string>;
  /** A well-formed value for a path parameter (an existing id), so the odd values of the others are reached. */
  pathValue(route: BatteryRoute, param: string): string;
  /** Requests in flight at once. */
  concurrency?: number;
}

/** One answer at or above 500, with what caused it. */
export interface BatteryFailure {
  route: string;
  probe: string;
  method: string;
  path: string;
  status: number;
  body: string;
}

export interface BatteryResult {
  sent: number;
  /** Answers by status class: `2xx`, `3xx`, `4xx`, `5xx`. */
  byClass: Record<string, number>;
  failures: BatteryFailure[];
  /** Route name → requests sent to it. */
  perRoute: Map<string, number>;
}

interface Probe {
  name: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SEARCH_TERMS = 2_500;
const LONG = 'x'.repeat(10_000);
const LONG_NAME = 'n'.repeat(300);

/** Path parameter values no route expects: signs, overflowing integers, non-numbers, NUL, very long. */
export const ODD_IDS = [
  '0',
  '-1',
  '2147483648',
  '9223372036854775808',
  '1e400',
  'abc',
  '%00',
  'a%00b',
  '1.5',
  '%2F..%2F',
  '%E0%A4%A',
  '__proto__',
  'constructor',
  '0x10',
  '%2B1',
  '1%2C2',
  `9${'9'.repeat(3_000)}`,
];

/** Field names every body and query gets besides the route's declared ones. */
const COMMON_FIELDS = ['id', 'name', 'username', 'email', 'title', 'key', 'search', 'scopes', 'sort', 'order_by', 'path', 'description', 'project', 'protocol', 'action', 'user_id', 'namespace_id'];

/** A search of thousands of distinct terms, each long enough to be matched on its own: a query builder must refuse it or bound it. */
export const MANY_TERMS = Array.from({ length: SEARCH_TERMS }, (_, i) => `z${i.toString(36).padStart(2, '0')}`).join(' ');

/** The top-level keys a route's input schema declares (through pipes, defaults and optionals). */
function declaredFields(schema: unknown, depth = 0): string[] {
  if (!schema || depth > 5) return [];
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  const def = (schema as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  if (!def) return [];
  for (const inner of [def.in, def.innerType, def.schema, def.out]) {
    const found = declaredFields(inner, depth + 1);
    if (found.length) return found;
  }
  if (Array.isArray(def.options)) return [...new Set(def.options.flatMap((option) => declaredFields(option, depth + 1)))];
  return [];
}

function fieldsOf(route: BatteryRoute): string[] {
  return [...new Set([...declaredFields(route.input), ...COMMON_FIELDS])];
}

const everyField = (fields: readonly string[], value: (field: string) => unknown) => Object.fromEntries(fields.map((field) => [field, value(field)]));

/** Field value classes, sent as a JSON body, a form body and a query string. */
function valueClasses(fields: readonly string[]): Array<{ name: string; values: Record<string, unknown> }> {
  return [
    { name: 'nul in every field', values: everyField(fields, (field) => `${field}\u0000value`) },
    { name: 'nul only', values: everyField(fields, () => '\u0000') },
    { name: 'huge numbers', values: everyField(fields, () => 9_223_372_036_854_775_808) },
    { name: 'int32 overflow', values: everyField(fields, () => 2_147_483_648) },
    { name: 'negative', values: everyField(fields, () => -1) },
    { name: 'arrays', values: everyField(fields, () => ['a', 'b']) },
    { name: 'objects', values: everyField(fields, () => ({ nested: 'x' })) },
    { name: 'booleans', values: everyField(fields, () => true) },
    { name: 'long strings', values: everyField(fields, () => LONG) },
    { name: 'over 255', values: everyField(fields, (field) => (field === 'email' ? `${LONG_NAME}@example.com` : LONG_NAME)) },
    { name: 'many terms', values: everyField(fields, () => MANY_TERMS) },
    { name: 'proto names', values: everyField(fields, () => '__proto__') },
    { name: 'nul in arrays', values: everyField(fields, () => ['ok', 'a\u0000b']) },
  ];
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** JSON text whose numbers no double holds exactly or at all (`1e400` parses to Infinity). */
const HUGE_JSON = (fields: readonly string[]) => Buffer.from(`{${fields.map((field) => `"${field}":1e400`).join(',')}}`);

/** Bodies no route accepts: broken JSON, broken or mislabelled compression, wrong types, poisoned keys. */
function malformedBodies(fields: readonly string[]): Probe[] {
  const valid = json(everyField(fields, () => 'value'));
  const gzipped = gzipSync(valid);
  const JSON_TYPE = { 'Content-Type': 'application/json' };
  return [
    { name: 'invalid json', path: '', headers: JSON_TYPE, body: Buffer.from('{"name": "x",') },
    { name: 'json scalar', path: '', headers: JSON_TYPE, body: Buffer.from('"just a string"') },
    { name: 'json array', path: '', headers: JSON_TYPE, body: Buffer.from('[1,2,3]') },
    { name: 'json with charset', path: '', headers: { 'Content-Type': 'application/json; charset=latin1' }, body: valid },
    { name: 'json utf-16', path: '', headers: { 'Content-Type': 'application/json; charset=utf-16' }, body: Buffer.from(valid.toString('utf8'), 'utf16le') },
    { name: 'json unknown charset', path: '', headers: { 'Content-Type': 'application/json; charset=klingon' }, body: valid },
    { name: 'deeply nested json', path: '', headers: JSON_TYPE, body: Buffer.from(`{"name":${'['.repeat(5_000)}${']'.repeat(5_000)}}`) },
    { name: 'infinite numbers', path: '', headers: JSON_TYPE, body: HUGE_JSON(fields) },
    { name: 'proto key', path: '', headers: JSON_TYPE, body: Buffer.from('{"__proto__":{"isAdmin":true},"name":"x"}') },
    { name: 'constructor key', path: '', headers: JSON_TYPE, body: Buffer.from('{"constructor":{"prototype":{"isAdmin":true}}}') },
    { name: 'truncated gzip', path: '', headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: gzipped.subarray(0, Math.floor(gzipped.length / 2)) },
    { name: 'invalid gzip', path: '', headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: Buffer.from('this is not gzip at all') },
    { name: 'invalid deflate', path: '', headers: { ...JSON_TYPE, 'Content-Encoding': 'deflate' }, body: Buffer.from('nope') },
    { name: 'gzip form', path: '', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Encoding': 'gzip' }, body: Buffer.from([0x1f, 0x8b, 0x08, 0x00]) },
    { name: 'unknown encoding', path: '', headers: { ...JSON_TYPE, 'Content-Encoding': 'br, zstd' }, body: valid },
    { name: 'gzip nul', path: '', headers: { ...JSON_TYPE, 'Content-Encoding': 'gzip' }, body: gzipSync(json(everyField(fields, () => 'a\u0000'))) },
    { name: 'text/plain', path: '', headers: { 'Content-Type': 'text/plain' }, body: valid },
    { name: 'xml', path: '', headers: { 'Content-Type': 'application/xml' }, body: Buffer.from('<a>b</a>') },
    { name: 'multipart', path: '', headers: { 'Content-Type': 'multipart/form-data; boundary=x' }, body: Buffer.from('--x\r\nbroken') },
    { name: 'no content type', path: '', body: valid },
    { name: 'form raw nul', path: '', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from(fields.map((field) => `${field}=a%00b`).join('&')) },
    { name: 'form deep', path: '', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from('a[b][c][d][e][f][g][h]=1&__proto__[x]=1&name[]=a&name[x]=b') },
    { name: 'invalid utf-8', path: '', headers: JSON_TYPE, body: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d]) },
  ];
}

/** A value as a form/query pair list, arrays as `field[]=…`, objects as `field[key]=…`. */
function encodePairs(values: Record<string, unknown>): string {
  const pairs: string[] = [];
  for (const [field, value] of Object.entries(values)) {
    const key = encodeURIComponent(field);
    if (Array.isArray(value)) for (const item of value) pairs.push(`${key}[]=${encodeURIComponent(String(item))}`);
    else if (value && typeof value === 'object') for (const [inner, item] of Object.entries(value)) pairs.push(`${key}[${encodeURIComponent(inner)}]=${encodeURIComponent(String(item))}`);
    else pairs.push(`${key}=${encodeURIComponent(String(value))}`);
  }
  return pairs.join('&');
}

/** Query strings no route expects. */
function oddQueries(fields: readonly string[]): Probe[] {
  return [
    { name: 'query sort proto', path: '?sort=__proto__&order_by=__proto__&state=constructor' },
    { name: 'query sort toString', path: '?sort=toString&order_by=hasOwnProperty&visibility=valueOf' },
    { name: 'query paging', path: '?page=1e400&per_page=-1' },
    { name: 'query paging huge', path: '?page=9223372036854775808&per_page=2147483648' },
    // `+` for the spaces: percent-encoded, thousands of terms would not fit in a request head.
    { name: 'query search terms', path: `?search=${MANY_TERMS.replaceAll(' ', '+')}` },
    { name: 'query proto', path: '?__proto__[isAdmin]=true&constructor[prototype][x]=1' },
    { name: 'query deep', path: '?a[b][c][d][e][f][g]=1&a[]=1' },
    { name: 'query token array', path: '?private_token[]=x&secret_token[]=y' },
    { name: 'query bad escape', path: '?name=%E0%A4%A&search=%' },
    { name: 'query sudo overflow', path: '?sudo=9223372036854775808' },
    { name: 'sudo header overflow', path: '', headers: { Sudo: '2147483648' } },
    { name: 'sudo header proto', path: '', headers: { Sudo: '__proto__' } },
    { name: 'long private token', path: '', headers: { 'PRIVATE-TOKEN': `glpat-${'x'.repeat(8_000)}` } },
    { name: 'bearer nul', path: '?access_token=a%00b' },
    // The longest values stay out of URLs: Node refuses request heads over 16 KiB before any route runs.
    ...valueClasses(fields)
      .filter((probe) => probe.name !== 'long strings' && probe.name !== 'many terms')
      .map((probe) => ({ name: `query ${probe.name}`, path: `?${encodePairs(probe.values)}` })),
  ];
}

/** The route's path with every parameter at its well-formed value, or one of them replaced. */
function fillPath(route: BatteryRoute, pathValue: BatteryOptions['pathValue'], odd?: { param: string; value: string }): string {
  return route.path.replace(/:(\w+)/g, (_, param: string) => (odd?.param === param ? odd.value : encodeURIComponent(pathValue(route, param))));
}

/** Every probe of one route: odd path ids (one parameter at a time), odd queries, malformed bodies. */
export function probesFor(route: BatteryRoute, pathValue: BatteryOptions['pathValue']): Probe[] {
  const fields = fieldsOf(route);
  const base = fillPath(route, pathValue);
  const hasBody = BODY_METHODS.has(route.method);
  const basicBody = hasBody ? { headers: { 'Content-Type': 'application/json' }, body: json(everyField(fields, () => 'value')) } : {};
  const params = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1]);
  const probes: Probe[] = [];
  for (const param of params) {
    for (const value of ODD_IDS) probes.push({ name: `path ${param}=${value.slice(0, 24)}`, path: fillPath(route, pathValue, { param, value }), ...basicBody });
  }
  for (const query of oddQueries(fields)) {
    probes.push({ ...basicBody, name: query.name, path: `${base}${query.path}`, headers: { ...basicBody.headers, ...query.headers } });
  }
  if (hasBody) {
    for (const bodyProbe of malformedBodies(fields)) probes.push({ ...bodyProbe, path: base });
    for (const { name, values } of valueClasses(fields)) {
      probes.push({ name: `json ${name}`, path: base, headers: { 'Content-Type': 'application/json' }, body: json(values) });
      probes.push({ name: `form ${name}`, path: base, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: Buffer.from(encodePairs(values)) });
    }
  }
  return probes;
}

interface Answer {
  status: number;
  body: string;
}

function send(agent: Agent, url: URL, method: string, probe: Probe, auth: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...auth, ...(probe.headers ?? {}) };
    if (probe.body) headers['Content-Length'] = probe.body.length;
    // Pagination links repeat the query string, so answers to the longest queries carry long headers.
    const req = httpRequest({ agent, host: url.hostname, port: url.port, method, path: probe.path, headers, maxHeaderSize: RESPONSE_HEADER_LIMIT }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 500) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(probe.body);
  });
}

const RESPONSE_HEADER_LIMIT = 1024 * 1024;

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

/** Sends every probe of every route; never throws for an answer, only for a broken connection. */
export async function runBattery(options: BatteryOptions): Promise<BatteryResult> {
  const url = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 4 });
  const work = options.routes.flatMap((route) => probesFor(route, options.pathValue).map((probe) => ({ route, probe })));
  const result: BatteryResult = { sent: 0, byClass: {}, failures: [], perRoute: new Map() };
  let next = 0;
  const worker = async () => {
    while (next < work.length) {
      const { route, probe } = work[next++];
      const answer = await send(agent, url, route.method, probe, await options.credentials(route));
      result.sent += 1;
      result.perRoute.set(route.name, (result.perRoute.get(route.name) ?? 0) + 1);
      const cls = statusClass(answer.status);
      result.byClass[cls] = (result.byClass[cls] ?? 0) + 1;
      if (answer.status >= 500) result.failures.push({ route: route.name, probe: probe.name, method: route.method, path: probe.path.slice(0, 200), status: answer.status, body: answer.body });
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  } finally {
    agent.destroy();
  }
  return result;
}
