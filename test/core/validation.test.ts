import test from 'ava';
import { z } from 'zod';
import { ValidationError } from '../../core/errors.js';
import { formatIssues, grapeName, p, validateInput } from '../../core/http/validation.js';
import { definePlugin, routeFor } from '../../core/plugins/types.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

/** The Grape message a schema gives for the params, or the parsed value when they are valid. */
function outcome<T extends z.ZodType>(schema: T, params: unknown): { ok: z.output<T> } | { error: string } {
  try {
    return { ok: validateInput(schema, params) };
  } catch (error) {
    if (error instanceof ValidationError) return { error: (error.body as { error: string }).error };
    throw error;
  }
}

const SCOPES = ['api', 'read_user', 'read_api'] as const;

test('p.stringArray: arrays, comma-separated strings and JSON array strings', (t) => {
  const schema = z.object({ scopes: p.stringArray() });
  t.deepEqual(outcome(schema, { scopes: ['api', 'read_user'] }), { ok: { scopes: ['api', 'read_user'] } });
  t.deepEqual(outcome(schema, { scopes: 'api, read_user' }), { ok: { scopes: ['api', 'read_user'] } });
  t.deepEqual(outcome(schema, { scopes: 'api,read_user,' }), { ok: { scopes: ['api', 'read_user'] } });
  t.deepEqual(outcome(schema, { scopes: '["api","read_user"]' }), { ok: { scopes: ['api', 'read_user'] } });
  t.deepEqual(outcome(schema, { scopes: 'api' }), { ok: { scopes: ['api'] } });
  t.deepEqual(outcome(schema, { scopes: '' }), { ok: { scopes: [] } });
  t.deepEqual(outcome(schema, { scopes: 42 }), { error: 'scopes is invalid' });
  t.deepEqual(outcome(schema, { scopes: '["api"' }), { error: 'scopes is invalid' }, 'a broken JSON array');
  t.deepEqual(outcome(schema, { scopes: ['api', { nested: true }] }), { error: 'scopes is invalid' }, 'the array is named, not the element');
  t.deepEqual(outcome(schema, {}), { error: 'scopes is missing' });
});

test('p.valuesArray: every element must be allowed', (t) => {
  const schema = z.object({ scopes: p.valuesArray(SCOPES) });
  t.deepEqual(outcome(schema, { scopes: 'api, read_api' }), { ok: { scopes: ['api', 'read_api'] } });
  t.deepEqual(outcome(schema, { scopes: ['api', 'sudo_everything'] }), { error: 'scopes does not have a valid value' });
  t.deepEqual(outcome(schema, { scopes: 'api, nope, nada' }), { error: 'scopes does not have a valid value' }, 'one message, not one per element');
});

test('p.values: one allowed value; numbers compared as strings', (t) => {
  const schema = z.object({ state: p.values(['active', 'inactive']), level: p.values(['10', '20']).optional() });
  t.deepEqual(outcome(schema, { state: 'active', level: 20 }), { ok: { state: 'active', level: '20' } });
  t.deepEqual(outcome(schema, { state: 'gone' }), { error: 'state does not have a valid value' });
});

test('p.date: calendar dates and RFC 3339 datetimes become YYYY-MM-DD', (t) => {
  const schema = z.object({ expires_at: p.date() });
  t.deepEqual(outcome(schema, { expires_at: '2025-12-31' }), { ok: { expires_at: '2025-12-31' } });
  t.deepEqual(outcome(schema, { expires_at: '2025-12-31T00:00:00Z' }), { ok: { expires_at: '2025-12-31' } });
  t.deepEqual(outcome(schema, { expires_at: '2025-12-31T00:00:00.000Z' }), { ok: { expires_at: '2025-12-31' } });
  t.deepEqual(outcome(schema, { expires_at: '2025-02-30' }), { error: 'expires_at is invalid' }, 'not a real day');
  t.deepEqual(outcome(schema, { expires_at: 'next tuesday' }), { error: 'expires_at is invalid' });
  t.deepEqual(outcome(schema, { expires_at: 20251231 }), { error: 'expires_at is invalid' });
});

test('p.datetime: RFC 3339 or a date at midnight UTC', (t) => {
  const schema = z.object({ created_after: p.datetime() });
  t.deepEqual(outcome(schema, { created_after: '2025-12-31' }), { ok: { created_after: new Date('2025-12-31T00:00:00Z') } });
  t.deepEqual(outcome(schema, { created_after: '2025-12-31T10:30:00+02:00' }), { ok: { created_after: new Date('2025-12-31T08:30:00Z') } });
  t.deepEqual(outcome(schema, { created_after: 'yesterday' }), { error: 'created_after is invalid' });
});

test('p.integer, p.boolean, p.string coerce as Grape does', (t) => {
  const schema = z.object({ id: p.integer(), revoked: p.boolean(), name: p.string() });
  t.deepEqual(outcome(schema, { id: '12', revoked: 'false', name: 7 }), { ok: { id: 12, revoked: false, name: '7' } });
  t.deepEqual(outcome(schema, { id: 12, revoked: 'yes', name: 'x' }), { ok: { id: 12, revoked: true, name: 'x' } });
  t.deepEqual(outcome(schema, { id: '1.5', revoked: 'maybe', name: {} }), { error: 'id is invalid, revoked is invalid, name is invalid' });
  t.deepEqual(outcome(schema, { id: 'abc', revoked: 0, name: 'x' }), { error: 'id is invalid' });
  t.deepEqual(outcome(schema, { id: '99999999999999999999', revoked: 1, name: 'x' }), { error: 'id is invalid' }, 'beyond safe integers');
});

test('missing and invalid are told apart, in declaration order', (t) => {
  const schema = z.object({ name: p.string(), scopes: p.valuesArray(SCOPES), expires_at: p.date().optional() });
  t.deepEqual(outcome(schema, {}), { error: 'name is missing, scopes is missing' });
  t.deepEqual(outcome(schema, { name: ['x'], expires_at: 'soon' }), { error: 'name is invalid, scopes is missing, expires_at is invalid' });
  t.deepEqual(outcome(schema, { name: 'x', scopes: ['api'], ignored: 'unknown params are dropped' }), {
    ok: { name: 'x', scopes: ['api'] },
  });
});

test('nested parameters are named the Grape way: context[0][type]', (t) => {
  const schema = z.object({
    context: z.array(z.object({ type: p.values(['file', 'snippet']), name: p.string(), content: p.string() })),
  });
  t.deepEqual(outcome(schema, { context: [{ type: 'file', name: 'a.ts', content: 'x' }, { type: 'mystery', name: 'b' }] }), {
    error: 'context[1][type] does not have a valid value, context[1][content] is missing',
  });
  t.is(grapeName(['context', 0, 'type']), 'context[0][type]');
  t.is(grapeName(['name']), 'name');
});

test('formatIssues drops duplicate messages', (t) => {
  const result = z.object({ a: p.integer(), b: p.integer() }).safeParse({ a: 'x', b: 'y' }, { reportInput: true });
  t.false(result.success);
  const issues = [...result.error!.issues, ...result.error!.issues];
  t.deepEqual(formatIssues(issues), ['a is invalid', 'b is invalid']);
});

interface EchoServices {}
const route = routeFor<EchoServices>();
const EchoInput = z.object({
  id: p.integer(),
  scopes: p.valuesArray(SCOPES),
  expires_at: p.date().optional(),
  context: z.array(z.object({ type: p.values(['file', 'snippet']) })).optional(),
});
const echo = (ctx: { body: unknown }, input: unknown) => void (ctx.body = input);

/** Routes that answer with the validated input, to see what arrives from each parameter source. */
const echoPlugin = definePlugin({
  name: 'echo',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Echoes its validated input.',
  routes: [
    route({ name: 'echo.read', method: 'GET', path: '/api/v4/echo/:id', auth: { strategy: 'none', reason: 'test route' }, input: EchoInput, handler: echo }),
    route({ name: 'echo.write', method: 'POST', path: '/api/v4/echo/:id', auth: { strategy: 'none', reason: 'test route' }, input: EchoInput, handler: echo }),
  ],
});

let app: TestApp;
test.before(async () => {
  app = await startTestApp({ registry: [echoPlugin] });
});
test.after.always(async () => {
  await app?.close();
});

test('query arrays (scopes[]=a&scopes[]=b), comma lists and nested keys', async (t) => {
  const arrays = await app.request('/api/v4/echo/5?scopes[]=api&scopes[]=read_user&expires_at=2025-12-31T00:00:00Z');
  t.is(arrays.status, 200);
  t.deepEqual(arrays.body, { id: 5, scopes: ['api', 'read_user'], expires_at: '2025-12-31' });

  const comma = await app.request('/api/v4/echo/5?scopes=api,%20read_api');
  t.deepEqual(comma.body, { id: 5, scopes: ['api', 'read_api'] });

  const nested = await app.request('/api/v4/echo/5?scopes=api&context[0][type]=file&context[1][type]=nope');
  t.is(nested.status, 400);
  t.deepEqual(nested.body, { error: 'context[1][type] does not have a valid value' });
});

test('form bodies, JSON bodies; path parameters win over the body, the body over the query', async (t) => {
  const form = await app.request('/api/v4/echo/7', { method: 'POST', form: { 'scopes[]': ['api', 'read_api'], expires_at: '2025-12-31' } });
  t.is(form.status, 200);
  t.deepEqual(form.body, { id: 7, scopes: ['api', 'read_api'], expires_at: '2025-12-31' });

  const json = await app.request('/api/v4/echo/7?scopes=read_user', { method: 'POST', body: { id: 99, scopes: 'api, read_user' } });
  t.deepEqual(json.body, { id: 7, scopes: ['api', 'read_user'] });

  const invalid = await app.request('/api/v4/echo/abc', { method: 'POST', body: {} });
  t.is(invalid.status, 400);
  t.deepEqual(invalid.body, { error: 'id is invalid, scopes is missing' });
});

test('validateInput: Grape group rules, their messages placed where they were declared', (t) => {
  const schema = z.object({ email: p.string(), password: p.string().optional(), name: p.string(), force: p.boolean().optional() });
  const choice = { rule: 'at_least_one_of', names: ['password', 'force'], before: 'name' } as const;
  const error = t.throws(() => validateInput(schema, {}, [choice]), { instanceOf: ValidationError });
  t.deepEqual(error?.body, { error: 'email is missing, password, force are missing, at least one parameter must be provided, name is missing' });
  t.like(validateInput(schema, { email: 'a@b', name: 'n', force: 'true' }, [choice]), { force: true });

  const kinds = z.object({ name: p.string(), scopes: p.stringArray().optional(), granular: z.unknown().optional() });
  const exactlyOne = [{ rule: 'exactly_one_of', names: ['scopes', 'granular'] }] as const;
  t.deepEqual(t.throws(() => validateInput(kinds, {}, exactlyOne), { instanceOf: ValidationError })?.body, {
    error: 'name is missing, scopes, granular are missing, exactly one parameter must be provided',
  });
  t.deepEqual(t.throws(() => validateInput(kinds, { name: 'x', scopes: 'api', granular: [] }, exactlyOne), { instanceOf: ValidationError })?.body, {
    error: 'scopes, granular are mutually exclusive',
  });
  // Grape checks keys: an empty string is given, null is not.
  t.like(validateInput(kinds, { name: 'x', scopes: '' }, exactlyOne), { scopes: [] });
  t.throws(() => validateInput(kinds, { name: 'x', scopes: null }, exactlyOne));
  const exclusive = [{ rule: 'mutually_exclusive', names: ['scopes', 'granular'] }] as const;
  t.like(validateInput(kinds, { name: 'x' }, exclusive), { name: 'x' });
});
