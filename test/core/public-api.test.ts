import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginDeps, PluginServices } from 'gatehouse';
import { ApiError } from '../../core/errors.js';
import type { PluginServices as CorePluginServices } from '../../core/plugins/types.js';
import type { DirectoryServices } from '../../plugins/directory/services.js';

// Plugins, shipped or external, see core only through the package entry `gatehouse`. These tests scan
// the sources so a deep import, an import of another plugin's files or an import circle inside a
// plugin fails here rather than surfacing as a broken external plugin.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every value `import('gatehouse')` exposes: the documented public API, no more, no less. */
const PUBLIC_VALUES = [
  // declaring plugins and validating input
  'definePlugin',
  'routeFor',
  'RouteProblems',
  'z',
  'p',
  'whole',
  'EMPTY',
  'INVALID',
  'NOT_A_VALID_VALUE',
  'NOT_ALLOWED',
  // GitLab-shaped errors
  'ApiError',
  'BadRequestError',
  'MalformedStringError',
  'ValidationError',
  'ModelValidationError',
  'ServiceError',
  'UnauthorizedError',
  'ForbiddenError',
  'NotFoundError',
  'RecordNotFoundError',
  'RouteNotFoundError',
  'MethodNotAllowedError',
  'PreconditionFailedError',
  'PayloadTooLargeError',
  'TooManyRequestsError',
  'ServiceUnavailableError',
  'InvalidTokenError',
  'InsufficientScopeError',
  'RATE_LIMITED_MESSAGE',
  'INSUFFICIENT_SCOPE_DESCRIPTION',
  // pagination
  'pageOf',
  'paginationShape',
  'setPaginationHeaders',
  'respondWithPage',
  'DEFAULT_PER_PAGE',
  'MAX_PER_PAGE',
  // answering and the caller
  'created',
  'noContent',
  'callerOf',
  // the cache helper
  'Cache',
  'createCache',
  // secrets, time and database helpers
  'pepperedDigest',
  'constantTimeEqual',
  'randomHex',
  'generatePepper',
  'PEPPER_RULE',
  'hashPassword',
  'verifyPassword',
  'toDate',
  'iso',
  'utcDay',
  'startOfUtcDay',
  'addDays',
  'utcDayCache',
  'uniqueViolation',
  'isRowId',
  'fitsIntegerColumn',
  'MAX_INTEGER_COLUMN',
  // upstream services and the instance key
  'BadGatewayError',
  'GatewayTimeoutError',
  'HOP_BY_HOP',
  'loadInstanceKeys',
  'generateSigningKeyPem',
].sort();

/** A source file's module specifiers: static imports and re-exports, dynamic imports, module augmentations. */
function specifiersOf(source: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /^\s*declare\s+module\s+['"]([^'"]+)['"]/gm,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1]!));
}

/** Plugin sources by path relative to the repository root (`plugins/<name>/…`). */
type Sources = ReadonlyMap<string, string>;

function pluginSources(): Sources {
  const sources = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) sources.set(path.split(sep).join('/'), readFileSync(join(ROOT, path), 'utf8'));
    }
  };
  walk('plugins');
  return sources;
}

const pluginOf = (path: string) => path.split('/')[1];

/** The repository path a relative specifier names, with the `.js` of ESM specifiers mapped to the source. */
function resolveRelative(from: string, specifier: string): string {
  const target = relative(ROOT, resolve(ROOT, dirname(from), specifier)).split(sep).join('/');
  return target.replace(/\.js$/, '.ts');
}

/** Every import that breaks the plugin rules: only `gatehouse` from core, nothing from other plugins. */
function importProblems(sources: Sources): string[] {
  const problems: string[] = [];
  for (const [path, source] of sources) {
    for (const specifier of specifiersOf(source)) {
      if (specifier.startsWith('.')) {
        const target = resolveRelative(path, specifier);
        if (target.startsWith('core/')) problems.push(`${path}: deep import of ${target}; import from 'gatehouse'`);
        else if (target.startsWith('plugins/') && pluginOf(target) !== pluginOf(path)) problems.push(`${path}: imports another plugin's file ${target}`);
        else if (!target.startsWith(`plugins/${pluginOf(path)}/`)) problems.push(`${path}: imports ${target}, outside its plugin`);
      } else if (specifier.startsWith('gatehouse/')) {
        problems.push(`${path}: deep import of ${specifier}; import from 'gatehouse'`);
      } else if (specifier === 'zod') {
        problems.push(`${path}: imports zod directly; use the z that 'gatehouse' exports`);
      }
    }
  }
  return problems;
}

/** Import circles among the files of each plugin, each as the list of files around it. */
function importCycles(sources: Sources): string[][] {
  const edges = new Map<string, string[]>();
  for (const [path, source] of sources) {
    const targets = specifiersOf(source)
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => resolveRelative(path, specifier))
      .filter((target) => sources.has(target));
    edges.set(path, targets);
  }
  const cycles: string[][] = [];
  const done = new Set<string>();
  const visit = (path: string, trail: string[]) => {
    const seenAt = trail.indexOf(path);
    if (seenAt >= 0) {
      cycles.push([...trail.slice(seenAt), path]);
      return;
    }
    if (done.has(path)) return;
    for (const target of edges.get(path) ?? []) visit(target, [...trail, path]);
    done.add(path);
  };
  for (const path of [...sources.keys()].sort()) visit(path, []);
  return cycles;
}

test('shipped plugins import core only through gatehouse, and no other plugin\'s files', (t) => {
  const sources = pluginSources();
  t.true(sources.size > 50, 'the scan found the plugin sources');
  t.deepEqual(importProblems(sources), []);
});

test('the import scan reports deep imports, imports across plugins and direct zod imports', (t) => {
  const sources = new Map([
    ['plugins/a/routes.ts', "import { NotFoundError } from '../../core/errors.js';\nimport type { B } from '../b/services.js';"],
    ['plugins/a/manifest.ts', "import { z } from 'zod';\nimport { p } from 'gatehouse/core/http/validation.js';\nconst load = () => import('../../core/app.js');"],
    ['plugins/a/services.ts', "declare module '../../core/plugins/types.js' {\n  interface PluginServices { a: A }\n}"],
    ['plugins/a/ok.ts', "import { definePlugin, z } from 'gatehouse';\nimport { route } from './routes.js';\nimport { x } from 'undici';"],
  ]);
  t.deepEqual(importProblems(sources), [
    "plugins/a/routes.ts: deep import of core/errors.ts; import from 'gatehouse'",
    "plugins/a/routes.ts: imports another plugin's file plugins/b/services.ts",
    "plugins/a/manifest.ts: imports zod directly; use the z that 'gatehouse' exports",
    "plugins/a/manifest.ts: deep import of gatehouse/core/http/validation.js; import from 'gatehouse'",
    "plugins/a/manifest.ts: deep import of core/app.ts; import from 'gatehouse'",
    "plugins/a/services.ts: deep import of core/plugins/types.ts; import from 'gatehouse'",
  ]);
});

test('no plugin has an import circle among its files', (t) => {
  t.deepEqual(importCycles(pluginSources()), []);
});

test('the cycle scan reports a manifest ↔ routes circle, type-only imports included', (t) => {
  const sources = new Map([
    ['plugins/a/manifest.ts', "import { routes } from './routes.js';"],
    ['plugins/a/routes.ts', "import type { AServices } from './manifest.js';\nimport { present } from './presenter.js';"],
    ['plugins/a/presenter.ts', "import { z } from 'gatehouse';"],
  ]);
  t.deepEqual(importCycles(sources), [['plugins/a/manifest.ts', 'plugins/a/routes.ts', 'plugins/a/manifest.ts']]);
});

test('core imports shipped plugins in one file only, the registry', (t) => {
  const importers: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && specifiersOf(readFileSync(join(ROOT, path), 'utf8')).some((s) => resolveRelative(path, s).startsWith('plugins/'))) {
        importers.push(path.split(sep).join('/'));
      }
    }
  };
  walk('core');
  t.deepEqual(importers, ['core/plugins/registry.ts']);
});

test("import('gatehouse') exposes exactly the documented names", async (t) => {
  const gatehouse = await import('gatehouse');
  t.deepEqual(Object.keys(gatehouse).sort(), PUBLIC_VALUES);
  t.is(typeof gatehouse.definePlugin, 'function');
  t.is(typeof gatehouse.z.object, 'function');
  t.true(new gatehouse.NotFoundError('User') instanceof gatehouse.ApiError);
});

test('gatehouse resolves to these sources, so plugins and core share one set of classes', async (t) => {
  const gatehouse = await import('gatehouse');
  t.is(gatehouse.ApiError, ApiError);
  t.is(fileURLToPath(import.meta.resolve('gatehouse')), join(ROOT, 'core', 'index.ts'));
});

test('the package entry runs the sources under the development condition and the build everywhere else', (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  t.deepEqual(pkg.exports['.'], { development: './core/index.ts', types: './dist/core/index.d.ts', default: './dist/core/index.js' });
  t.deepEqual(pkg.exports['./testing'], { development: './core/testing.ts', types: './dist/core/testing.d.ts', default: './dist/core/testing.js' });
  t.is(fileURLToPath(import.meta.resolve('gatehouse/testing')), join(ROOT, 'core', 'testing.ts'));
  t.true(pkg.ava.nodeArguments.includes('--conditions=development'));
  // Installs (npm ci, from git or a folder) build dist/; a start runs it without compiling.
  t.is(pkg.scripts.prepare, 'npm run build');
  t.false(/tsc|npm run build/.test(pkg.scripts.start));
  for (const script of ['docs:config', 'knex', 'bench']) t.true(pkg.scripts[script].includes('--conditions=development'), `${script} runs the sources`);
});

// Compile-time checks (`npm run typecheck` covers the tests): a plugin's `declare module 'gatehouse'`
// reaches the interface core's loader reads, and types `deps.plugins.<name>`.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const mergedIntoCore: Same<CorePluginServices['directory'], DirectoryServices> = true;
const sameInterface: Same<PluginServices, CorePluginServices> = true;
type DependantDeps = PluginDeps<Record<string, never>, 'directory'>;
const typedDependency: Same<DependantDeps['plugins']['directory'], DirectoryServices> = true;
// @ts-expect-error: only plugins named in dependsOn are reachable
type Undeclared = DependantDeps['plugins']['tokens'];

test('declaration merging on gatehouse types the services of a dependency', (t) => {
  t.true(mergedIntoCore && sameInterface && typedDependency);
});
