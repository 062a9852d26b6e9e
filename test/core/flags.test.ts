import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createFlagResolver, type ManagedFlagResolver } from '../../core/flags/resolver.js';
import { definePlugin, type FlagDefinition } from '../../core/plugins/types.js';
import type { AppConfig } from '../../core/config/schema.js';
import { startTestApp } from '../helpers/app.js';

const FLAGS: FlagDefinition[] = [
  { name: 'on_by_default', kind: 'release', default: true, description: 'fixture' },
  { name: 'off_by_default', kind: 'release', default: false, description: 'fixture' },
  { name: 'untouched_on', kind: 'ops', default: true, description: 'fixture: no file or server mentions it' },
  { name: 'untouched_off', kind: 'ops', default: false, description: 'fixture: no file or server mentions it' },
];

const silent = pino({ level: 'silent' });
const resolvers: ManagedFlagResolver[] = [];
const servers: Server[] = [];
const dirs: string[] = [];

test.after.always(async () => {
  for (const resolver of resolvers) await resolver.close();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function unleashConfig(overrides: Partial<AppConfig['unleash']> = {}): AppConfig['unleash'] {
  return { appName: 'gatehouse-test', environment: 'default', refreshIntervalMs: 15_000, bootstrapFile: 'flags.json', ...overrides };
}

async function resolverFor(options: Parameters<typeof createFlagResolver>[0]) {
  const resolver = await createFlagResolver(options);
  resolvers.push(resolver);
  return resolver;
}

const feature = (name: string, enabled: boolean, strategies: unknown[] = [{ name: 'default', parameters: {} }]) => ({
  name,
  enabled,
  type: 'release',
  strategies,
});

/** A stand-in Unleash server: answers `GET …/client/features` with the given features and records requests. */
async function fakeUnleash(respond: () => { status: number; body?: unknown }) {
  const requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    req.resume();
    if (req.method === 'GET' && req.url?.split('?')[0].endsWith('/client/features')) {
      const { status, body } = respond();
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body ?? {}));
      return;
    }
    res.writeHead(202).end();
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`, requests };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** Waits for a condition the resolver reaches on its own (bounded, so a broken resolver fails instead of hanging). */
async function eventually(condition: () => boolean, what: string) {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((done) => setTimeout(done, 10));
  if (!condition()) throw new Error(`never happened: ${what}`);
}

test('offline: the bootstrap file decides, flags it does not list use the manifest default', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-flags-'));
  dirs.push(cwd);
  writeFileSync(
    join(cwd, 'flags.json'),
    JSON.stringify({
      version: 1,
      features: [
        feature('on_by_default', false),
        feature('off_by_default', true),
        feature('not_declared_anywhere', true),
        feature('for_user_seven', true, [{ name: 'userWithId', parameters: { userIds: '7' } }]),
        feature('constrained_default', true, [{ name: 'default', parameters: {}, constraints: [{ contextName: 'userId', operator: 'IN', values: ['7'] }] }]),
      ],
    }),
  );
  const resolver = await resolverFor({ config: unleashConfig(), flags: FLAGS, logger: silent, cwd });
  t.true(resolver.synced(), 'offline counts as synced');
  t.false(resolver.isEnabled('on_by_default'));
  t.true(resolver.isEnabled('off_by_default'));
  t.true(resolver.isEnabled('untouched_on'));
  t.false(resolver.isEnabled('untouched_off'));
  t.true(resolver.isEnabled('for_user_seven', { userId: '7' }), 'the Unleash context reaches the strategies');
  t.false(resolver.isEnabled('for_user_seven', { userId: '8' }));
  t.false(resolver.isEnabled('for_user_seven'));
  // Answers that depend on the context are never remembered (those that cannot are): asked in turn.
  for (let i = 0; i < 3; i++) {
    t.true(resolver.isEnabled('constrained_default', { userId: '7' }));
    t.false(resolver.isEnabled('constrained_default', { userId: '8' }));
    t.false(resolver.isEnabled('on_by_default'));
  }
  t.true(resolver.isDeclared('untouched_off'), 'declared by a manifest, whatever its value');
  t.false(resolver.isDeclared('not_declared_anywhere'), 'a flag only the file knows is not declared');
});

test('offline: a file of constant toggles answers exactly as unleash-client does when a constrained toggle makes it evaluate them', async (t) => {
  const constant = [
    feature('on_by_default', false),
    feature('off_by_default', true),
    feature('untouched_on', true, []),
    feature('untouched_off', false, [{ name: 'userWithId', parameters: { userIds: '7' } }]),
    feature('not_declared_anywhere', true),
  ];
  const answers = async (features: unknown[]) => {
    const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-flags-'));
    dirs.push(cwd);
    writeFileSync(join(cwd, 'flags.json'), JSON.stringify({ version: 1, features }));
    const resolver = await resolverFor({ config: unleashConfig(), flags: FLAGS, logger: silent, cwd });
    const names = [...FLAGS.map((flag) => flag.name), 'not_declared_anywhere', 'never_mentioned'];
    return Object.fromEntries(names.flatMap((name) => [[name, resolver.isEnabled(name)], [`${name} for 7`, resolver.isEnabled(name, { userId: '7' })]]));
  };
  const withoutRuleEngine = await answers(constant);
  const withRuleEngine = await answers([...constant, feature('for_user_seven', true, [{ name: 'userWithId', parameters: { userIds: '7' } }])]);
  t.deepEqual(withoutRuleEngine, withRuleEngine);
  t.like(withoutRuleEngine, { on_by_default: false, off_by_default: true, untouched_on: true, untouched_off: false, not_declared_anywhere: true, never_mentioned: false });
});

test('offline without a bootstrap file: manifest defaults', async (t) => {
  const resolver = await resolverFor({ config: unleashConfig({ bootstrapFile: 'missing.json' }), flags: FLAGS, logger: silent, cwd: tmpdir() });
  t.true(resolver.isEnabled('on_by_default'));
  t.false(resolver.isEnabled('off_by_default'));
  t.false(resolver.isEnabled('never_declared'));
});

test('online: boot does not wait for an unreachable server; manifest defaults answer meanwhile', async (t) => {
  const port = await closedPort();
  const resolver = await resolverFor({
    config: unleashConfig({ url: `http://127.0.0.1:${port}/api`, token: 'client-token', refreshIntervalMs: 50 }),
    flags: FLAGS,
    logger: silent,
  });
  t.false(resolver.synced());
  t.true(resolver.isEnabled('on_by_default'));
  t.false(resolver.isEnabled('off_by_default'));
  // Let a few polls fail, then close while the client keeps retrying: closing must not crash.
  await new Promise((done) => setTimeout(done, 150));
  await t.notThrowsAsync(resolver.close());
});

test('online: the server\'s values win once synced; flags it does not know keep their manifest default', async (t) => {
  let features = [feature('on_by_default', false), feature('off_by_default', true)];
  const unleash = await fakeUnleash(() => ({ status: 200, body: { version: 1, features } }));
  const resolver = await resolverFor({
    config: unleashConfig({ url: unleash.url, token: 'default:development.secret', refreshIntervalMs: 50 }),
    flags: FLAGS,
    logger: silent,
  });
  await eventually(() => resolver.synced(), 'first sync');
  t.false(resolver.isEnabled('on_by_default'));
  t.true(resolver.isEnabled('off_by_default'));
  t.true(resolver.isEnabled('untouched_on'));
  t.false(resolver.isEnabled('untouched_off'));

  const poll = unleash.requests.find((r) => r.method === 'GET')!;
  t.is(poll.url.split('?')[0], '/api/client/features', 'the client API path is appended to the configured URL');
  t.is(poll.headers.authorization, 'default:development.secret', 'the token goes in the Authorization header');

  features = [feature('on_by_default', true), feature('off_by_default', true)];
  await eventually(() => resolver.isEnabled('on_by_default'), 'a later poll picks up a change');
  t.true(resolver.isEnabled('on_by_default'), 'and keeps it');

  features = [feature('on_by_default', true, [{ name: 'userWithId', parameters: { userIds: '7' } }]), feature('off_by_default', false)];
  await eventually(() => !resolver.isEnabled('off_by_default'), 'the next change replaces remembered answers');
  t.true(resolver.isEnabled('on_by_default', { userId: '7' }), 'a flag that became user-specific is evaluated per user');
  t.false(resolver.isEnabled('on_by_default', { userId: '8' }));
});

test('online: a token the server refuses is logged as an error', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const unleash = await fakeUnleash(() => ({ status: 401, body: { message: 'unauthorised' } }));
  const resolver = await resolverFor({
    config: unleashConfig({ url: unleash.url, token: 'wrong', refreshIntervalMs: 50 }),
    flags: FLAGS,
    logger: pino({ level: 'warn' }, sink),
  });
  await eventually(() => lines.some((line) => line.includes('flag polling has stopped')), 'the refusal is logged');
  const logged = JSON.parse(lines.find((line) => line.includes('flag polling has stopped'))!);
  t.is(logged.level, 50, 'logged at error level');
  t.false(resolver.synced());
  t.true(resolver.isEnabled('on_by_default'), 'manifest defaults keep serving');
});

const gatedPlugin = definePlugin({
  name: 'gated',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'A route behind a flag.',
  flags: [{ name: 'gated_route', kind: 'release', default: false, description: 'Serves GET /api/v4/gated.' }],
  routes: [
    {
      name: 'gated.read',
      method: 'GET',
      path: '/api/v4/gated',
      auth: { strategy: 'none', reason: 'test route' },
      flag: 'gated_route',
      handler(ctx) {
        ctx.body = { gated: true };
      },
    },
  ],
});

test('a route behind a flag that is off does not exist; flipping the flag serves it at once', async (t) => {
  const app = await startTestApp({ registry: [gatedPlugin], flags: { gated_route: false } });
  try {
    const off = await app.request('/api/v4/gated');
    t.is(off.status, 404);
    t.deepEqual(off.body, { message: '404 Not Found' });

    app.flags.set('gated_route', true);
    const on = await app.request('/api/v4/gated');
    t.is(on.status, 200);
    t.deepEqual(on.body, { gated: true });

    app.flags.set('gated_route', false);
    t.is((await app.request('/api/v4/gated')).status, 404);
  } finally {
    await app.close();
  }
});
