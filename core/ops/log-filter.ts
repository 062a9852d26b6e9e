/**
 * What keeps credentials and stored values out of log lines: request URLs with secret-bearing query
 * parameters filtered, and errors reduced to fields that cannot hold a value, with bounded text.
 */

/**
 * Parameter names whose values are never logged. As GitLab's `filter_parameters` (Rails' parameter
 * filter) does with plain names, a parameter is filtered when its decoded name contains one of these,
 * in any case: `private_token[]`, `user[password]` and `new_password` included. Extend the list here.
 */
export const FILTERED_PARAMS: readonly string[] = [
  'private_token',
  'access_token',
  'secret_token',
  'token',
  'password',
  'client_secret',
  'code',
  'refresh_token',
  'secret',
];

/** What a filtered value is logged as (GitLab's placeholder). */
export const FILTERED = '[FILTERED]';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const FILTERED_NAME = new RegExp(FILTERED_PARAMS.map(escapeRegExp).join('|'), 'i');

/** Whether a parameter named `name` (decoded) is never logged. */
export const isFilteredName = (name: string) => FILTERED_NAME.test(name);

/** A query component decoded as qs decodes it: `+` is a space, a malformed escape leaves it as sent. */
function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

function filterPair(pair: string): string {
  const equals = pair.indexOf('=');
  const sentName = equals < 0 ? pair : pair.slice(0, equals);
  const name = decodeComponent(sentName);
  return isFilteredName(name) || isFilteredName(sentName) ? `${name}=${FILTERED}` : pair;
}

/**
 * A request URL safe to log: the path, then the query with every parameter whose decoded name is
 * filtered written as `<decoded name>=[FILTERED]` (names are matched after decoding because the query
 * parser decodes them: `private%5Ftoken` authenticates as `private_token`). Other parameters are logged
 * as sent. Runs on every request line, so a URL without a query costs one search, and a query with no
 * escape and no filtered word anywhere is returned as it is.
 */
export function filterUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart < 0) return url;
  const query = url.slice(queryStart + 1);
  if (!query.includes('%') && !FILTERED_NAME.test(query)) return url;
  return `${url.slice(0, queryStart + 1)}${query.split('&').map(filterPair).join('&')}`;
}

/** `name=value` pairs in free text (URLs, form bodies, messages quoting them); names are bounded so a long run without `=` costs linear time. */
const TEXT_PAIR = /([^\s?&=#"'<>]{1,200})=([^\s&#"'<>]*)/g;
/** `"name": "value"` pairs in free text (JSON quoted in a message); the value may be cut short by the end. */
const TEXT_JSON_PAIR = /"((?:[^"\\]|\\.){1,200})"(\s*:\s*)"(?:[^"\\]|\\.)*(?:"|$)/g;
/** GitLab's token prefixes (personal, OAuth application secret, agent, runner, trigger, deploy, feed, …). */
const TOKEN_PREFIXES = ['glpat', 'gloas', 'glagent', 'glrt', 'glptt', 'gldt', 'glft', 'glimt', 'glcbt', 'glsoat'];
/** GitLab tokens quoted anywhere in free text. */
const TEXT_PREFIXED_TOKEN = new RegExp(`\\b(?:${TOKEN_PREFIXES.join('|')})-[\\w.-]{8,}`, 'g');

/** Free text with credentials it may quote replaced: parameters by filtered name, and GitLab tokens. */
export function filterText(text: string): string {
  return text
    .replace(TEXT_PAIR, (pair, name: string) => (isFilteredName(decodeComponent(name)) ? `${name}=${FILTERED}` : pair))
    .replace(TEXT_JSON_PAIR, (pair, name: string, colon: string) => (isFilteredName(name) ? `"${name}"${colon}"${FILTERED}"` : pair))
    .replace(TEXT_PREFIXED_TOKEN, FILTERED);
}

/** Longest error message logged, in characters; the rest is cut (one knex error line was 100 kB). */
export const MAX_LOGGED_MESSAGE = 1_000;
/** Longest stack logged, in characters. */
export const MAX_LOGGED_STACK = 4_000;
/** How deep `cause` chains and aggregated errors are followed. */
const MAX_ERROR_DEPTH = 2;
/** How many of an AggregateError's errors are logged. */
const MAX_AGGREGATED = 3;


/**
 * Error fields that describe what failed without holding a value: codes, and the schema names
 * PostgreSQL reports. Everything else an error carries (knex's `bindings`, PostgreSQL's `detail` with
 * the failing row, a URL error's `input`, ioredis' command arguments) stays out of the log.
 */
const SAFE_ERROR_FIELDS = ['code', 'errno', 'syscall', 'status', 'statusCode', 'severity', 'routine', 'schema', 'table', 'column', 'constraint', 'sql'];

/** A database driver's error (PostgreSQL's carry `severity`/`routine`, SQLite's a `SQLITE_` code). */
const isDatabaseError = (error: Record<string, unknown>) =>
  typeof error.routine === 'string' || typeof error.severity === 'string' || (typeof error.code === 'string' && error.code.startsWith('SQLITE_'));

/**
 * PostgreSQL quotes the offending value in some messages (`invalid input syntax for type integer:
 * "…"`, `value "…" is out of range`); identifiers it quotes follow other words and are kept. The value
 * may be cut short by the end of the text.
 */
const QUOTED_DB_VALUE = /(: |value )"(?:[^"]|"")*(?:"|$)/g;

/**
 * Text cut to `max` characters first, so the patterns run over bounded text, then filtered: a value
 * cut short by the end is still recognised and filtered.
 */
function filterErrorText(text: string, databaseError: boolean, max: number): string {
  const long = text.length > max;
  let filtered = filterText(long ? text.slice(0, max) : text);
  if (databaseError) filtered = filtered.replace(QUOTED_DB_VALUE, `$1"${FILTERED}"`);
  return long ? `${filtered}… [${text.length - max} more characters]` : filtered;
}

/**
 * pino's `err` serializer: type, message and stack with credentials filtered and their length capped,
 * the value-free fields above, and the cause. SQL reaches the log without values: knex is configured
 * not to inline bindings into its error messages (`compileSqlOnError: false`).
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (typeof error !== 'object' || error === null) return filterErrorText(String(error), false, MAX_LOGGED_MESSAGE);
  const fields = error as Record<string, unknown>;
  const databaseError = isDatabaseError(fields);
  const serialized: Record<string, unknown> = {
    type: (error as { constructor?: { name?: string } }).constructor?.name ?? 'Object',
    message: filterErrorText(String(fields.message ?? ''), databaseError, MAX_LOGGED_MESSAGE),
  };
  if (typeof fields.stack === 'string') serialized.stack = filterErrorText(fields.stack, databaseError, MAX_LOGGED_STACK);
  for (const field of SAFE_ERROR_FIELDS) {
    const value = fields[field];
    if (typeof value === 'string') serialized[field] = filterErrorText(value, databaseError, MAX_LOGGED_MESSAGE);
    else if (typeof value === 'number' || typeof value === 'boolean') serialized[field] = value;
  }
  if (depth < MAX_ERROR_DEPTH) {
    if (fields.cause !== undefined) serialized.cause = serializeError(fields.cause, depth + 1);
    if (Array.isArray(fields.errors)) serialized.errors = fields.errors.slice(0, MAX_AGGREGATED).map((inner) => serializeError(inner, depth + 1));
  }
  return serialized;
}

/** A logged value that is not an error but may quote one (knex's own log messages): filtered text, capped. */
export function serializeLoggedText(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(serializeError(value));
  let text: string;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return filterErrorText(text, false, MAX_LOGGED_MESSAGE);
}
