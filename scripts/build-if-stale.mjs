// Runs before `npm start` and `npm run gatehouse`: they run the compiled dist/, and compiling on every
// start costs seconds, so this compiles only when a source file (or the compiler config) is newer than
// the last build. Plain JavaScript so it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['core', 'plugins'];
const SOURCE_FILES = ['tsconfig.json', 'knexfile.ts', 'package.json'];
/** Written by every build; its age is the build's age. */
const BUILD_OUTPUT = 'dist/core/main.js';

function mtimeOf(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function newestIn(dir) {
  let newest = mtimeOf(dir) ?? 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const time = entry.isDirectory() ? newestIn(path) : entry.name.endsWith('.ts') ? mtimeOf(path) ?? 0 : 0;
    if (time > newest) newest = time;
  }
  return newest;
}

function newestSource() {
  const times = [...SOURCE_DIRS.map((dir) => newestIn(join(ROOT, dir))), ...SOURCE_FILES.map((file) => mtimeOf(join(ROOT, file)) ?? 0)];
  return Math.max(...times);
}

function build() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
  // tsc emits even when it reports errors: date that output back so the next start builds again.
  if (result.status !== 0 && mtimeOf(join(ROOT, BUILD_OUTPUT)) !== undefined) utimesSync(join(ROOT, BUILD_OUTPUT), 0, 0);
  process.exit(result.status ?? 1);
}

const built = mtimeOf(join(ROOT, BUILD_OUTPUT));
if (built === undefined || newestSource() > built) {
  console.error(built === undefined ? 'gatehouse: building dist/ (first start)' : 'gatehouse: sources changed, rebuilding dist/');
  build();
}
