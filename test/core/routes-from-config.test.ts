import test from 'ava';
import { z } from 'zod';
import { PluginLoadError } from '../../core/plugins/loader.js';
import { registry as shipped } from '../../core/plugins/registry.js';
import { definePlugin, type AnyPluginManifest, type RouteDefinition } from '../../core/plugins/types.js';
import type { OpenApiDocument } from '../../core/plugins/openapi.js';
import { backendName, startTestApp } from '../helpers/app.js';

// A plugin's routes may be a function of its validated config slice: the loader checks the routes it
// makes, the gateway serves them, the OpenAPI document describes them.

const GreetingsConfig = z.object({
  greetings: z
    .array(z.object({ path: z.string(), text: z.string() }))
    .default([])
    .describe('One public GET route per greeting.'),
});

const greetingRoute = (greeting: { path: string; text: string }, index: number): RouteDefinition<unknown> => ({
  name: `greetings.greeting-${index + 1}`,
  method: 'GET',
  path: greeting.path,
  summary: `Says ${greeting.text}`,
  auth: { strategy: 'none', reason: 'greetings are public' },
  handler(ctx) {
    ctx.body = { text: greeting.text };
  },
});

const greetings = definePlugin({
  name: 'greetings',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Greetings whose routes come from config.',
  config: GreetingsConfig,
  // The slice is typed from the schema: `greetings` is the parsed array, defaults applied.
  routes: (slice) => slice.greetings.map(greetingRoute),
}) as AnyPluginManifest;

const withGreetings = (list: Array<{ path: string; text: string }>) => ({
  registry: [...shipped, greetings],
  config: { plugins: { greetings: { enabled: true, greetings: list } } },
});

async function bootProblems(options: Parameters<typeof startTestApp>[0]): Promise<string[]> {
  try {
    const app = await startTestApp(options);
    await app.close();
  } catch (error) {
    if (error instanceof PluginLoadError) return error.problems;
    throw error;
  }
  throw new Error('expected boot to fail with a PluginLoadError');
}

test(`routes made from config are served, one per greeting (${backendName})`, async (t) => {
  const app = await startTestApp(
    withGreetings([
      { path: '/api/v4/greetings/hello', text: 'Hello' },
      { path: '/api/v4/greetings/bonjour', text: 'Bonjour' },
    ]),
  );
  t.teardown(() => app.close());
  const hello = await app.request('/api/v4/greetings/hello');
  t.is(hello.status, 200);
  t.deepEqual(hello.body, { text: 'Hello' });
  const bonjour = await app.request('/api/v4/greetings/bonjour');
  t.is(bonjour.status, 200);
  t.deepEqual(bonjour.body, { text: 'Bonjour' });
  const unlisted = await app.request('/api/v4/greetings/hola');
  t.is(unlisted.status, 404);
  t.deepEqual(unlisted.body, { error: '404 Not Found' });
});

test(`the OpenAPI document lists the routes made from config (${backendName})`, async (t) => {
  const app = await startTestApp(withGreetings([{ path: '/api/v4/greetings/hello', text: 'Hello' }]));
  t.teardown(() => app.close());
  const document: OpenApiDocument = (await app.request('/-/openapi.json')).body;
  const operation = document.paths['/api/v4/greetings/hello']?.get;
  t.is(operation?.operationId, 'greetings.greeting-1');
  t.is(operation?.summary, 'Says Hello');
  t.deepEqual(operation?.tags, ['greetings']);
  t.deepEqual(operation?.security, []);
  t.true(document.tags.some((tag) => tag.name === 'greetings'));
});

test('a route made from config that another plugin declares in its array is a duplicate, listed with the other problems', async (t) => {
  const problems = await bootProblems(
    withGreetings([
      { path: '/api/v4/user', text: 'Who?' },
      { path: '/api/v4/greetings/hello', text: 'Hello' },
      { path: '/api/v4/greetings/hello', text: 'Hello again' },
    ]),
  );
  t.deepEqual(problems, [
    'duplicate route GET /api/v4/user: directory.current-user and greetings.greeting-1',
    'duplicate route GET /api/v4/greetings/hello: greetings.greeting-2 and greetings.greeting-3',
  ]);
});

test('routes made from config obey the loader\'s rules on names and strategies', async (t) => {
  const sloppy = definePlugin({
    name: 'sloppy',
    version: '1.0.0',
    core: '^1.0.0',
    description: 'Routes from config that break the rules.',
    config: z.object({ strategy: z.string().default('kerberos').describe('The strategy every route names.') }),
    routes: (slice) => [
      { name: 'elsewhere.x', method: 'GET', path: '/api/v4/sloppy', auth: { strategy: slice.strategy }, flag: 'nobody_declared_this', handler() {} },
    ],
  }) as AnyPluginManifest;
  const problems = await bootProblems({ registry: [...shipped, sloppy], config: { plugins: { sloppy: { enabled: true } } } });
  const where = 'route elsewhere.x (GET /api/v4/sloppy) of plugin sloppy';
  t.deepEqual(problems, [
    `${where}: name must start with "sloppy."`,
    `${where} uses unknown auth strategy "kerberos"`,
    `${where} uses undeclared flag "nobody_declared_this"`,
  ]);
});

test('a routes function that throws is a boot problem listed with the others', async (t) => {
  const broken = definePlugin({
    name: 'broken-routes',
    version: '1.0.0',
    core: '^1.0.0',
    description: 'A routes function that cannot make sense of its config.',
    dependsOn: ['nowhere'] as never,
    routes: () => {
      throw new Error('upstream list is empty');
    },
  }) as AnyPluginManifest;
  const problems = await bootProblems({ registry: [...shipped, broken], config: { plugins: { 'broken-routes': { enabled: true } } } });
  t.deepEqual(problems, [
    'plugin broken-routes: its routes function failed on its config: upstream list is empty',
    'plugin broken-routes depends on unknown plugin "nowhere"',
  ]);
});

test(`a disabled plugin's routes function is never called (${backendName})`, async (t) => {
  let calls = 0;
  const counted = definePlugin({
    name: 'counted',
    version: '1.0.0',
    core: '^1.0.0',
    description: 'Counts how often its routes are made.',
    routes: () => {
      calls += 1;
      return [];
    },
  }) as AnyPluginManifest;
  const app = await startTestApp({ registry: [...shipped, counted], config: { plugins: { counted: { enabled: false } } } });
  t.teardown(() => app.close());
  t.is(calls, 0);
  t.false(app.gateway.plugins.includes(counted));
});

test('a route made from config at the path of one of core\'s own routes is a duplicate', async (t) => {
  const problems = await bootProblems(withGreetings([{ path: '/-/health', text: 'Fine' }]));
  t.deepEqual(problems, ['duplicate route GET /-/health: core.health and greetings.greeting-1']);
});
