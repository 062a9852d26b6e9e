import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { listConfigKeys, type ConfigKey } from '../core/config/loader.js';
import { defaultFlagFile } from '../core/flags/resolver.js';
import { registry } from '../core/plugins/registry.js';
import type { AnyPluginManifest } from '../core/plugins/types.js';

/**
 * Files derived from the config schema and the plugin manifests, so they cannot drift from the code:
 * the README's plugin and configuration tables, config/default.json (every key that has a default) and
 * config/flags.json (every declared flag at its manifest default, in Unleash's /client/features format).
 * `npm run docs:config` rewrites them; test/core/readme.test.ts fails while any of them is stale.
 */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A generated README section lives between `<!-- <name>:start -->` and `<!-- <name>:end -->`. */
const markers = (section: string) => ({ start: `<!-- ${section}:start -->`, end: `<!-- ${section}:end -->` });

/** Table cells are Markdown: `|` would split the cell, `<dataDir>` would be read as an HTML tag. */
const escapeCell = (text: string) => text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function defaultCell(key: ConfigKey): string {
  if (key.default === undefined) return '—';
  return `\`${typeof key.default === 'string' ? key.default : JSON.stringify(key.default)}\``;
}

function descriptionCell(key: ConfigKey): string {
  const values = key.enum ? ` One of ${key.enum.map((v) => `\`${String(v)}\``).join(', ')}.` : '';
  return `${escapeCell(key.description ?? '')}${values}`;
}

/** The configuration table: one row per leaf key, in schema order. */
export function renderConfigTable(keys: readonly ConfigKey[]): string {
  const rows = keys.map((key) => `| \`${key.path.join('.')}\` | \`${key.env}\` | ${defaultCell(key)} | ${descriptionCell(key)} |`);
  return ['| Key | Environment variable | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The plugin table: what each shipped plugin is, what it needs and what it provides. */
export function renderPluginTable(plugins: readonly AnyPluginManifest[]): string {
  const list = (items: readonly string[] | undefined) => (items?.length ? items.map((item) => `\`${item}\``).join(', ') : '—');
  const rows = plugins.map(
    (plugin) =>
      `| \`${plugin.name}\` | ${escapeCell(plugin.description)} | ${list(plugin.dependsOn as readonly string[] | undefined)} | ${list(Object.keys(plugin.authStrategies ?? {}))} | ${list(plugin.flags?.map((flag) => flag.name))} |`,
  );
  // Routes are left to `gatehouse plugins list`: they change too often for a hand-regenerated table.
  const header = ['| Plugin | What it serves | Depends on | Auth strategies it provides | Feature flags |', '| --- | --- | --- | --- | --- |'];
  return [...header, ...rows].join('\n');
}

/** Replaces what lies between a section's markers (markers kept); throws when they are missing. */
export function replaceSection(text: string, section: string, content: string): string {
  const { start: startMarker, end: endMarker } = markers(section);
  const start = text.indexOf(startMarker);
  const end = text.indexOf(endMarker);
  if (start < 0 || end < start) throw new Error(`README.md needs ${startMarker} … ${endMarker} markers`);
  return `${text.slice(0, start + startMarker.length)}\n${content}\n${text.slice(end)}`;
}

/** config/default.json: every key with a default, nested as the config is. Keys without one stay out (no secrets). */
export function renderDefaultConfig(keys: readonly ConfigKey[]): string {
  const config: Record<string, unknown> = {};
  for (const key of keys) {
    if (key.default === undefined) continue;
    let node = config;
    for (const segment of key.path.slice(0, -1)) node = (node[segment] ??= {}) as Record<string, unknown>;
    node[key.path[key.path.length - 1]] = key.default;
  }
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** config/flags.json: the offline flag file with every flag of every shipped plugin at its default. */
export function renderFlagFile(plugins: readonly AnyPluginManifest[]): string {
  return `${JSON.stringify(defaultFlagFile(plugins.flatMap((plugin) => plugin.flags ?? [])), null, 2)}\n`;
}

/** Every generated file: its path and its current content. */
export function generatedFiles(plugins: readonly AnyPluginManifest[] = registry): Array<{ path: string; content: string }> {
  const keys = listConfigKeys(plugins);
  const readmePath = resolve(ROOT, 'README.md');
  return [
    {
      path: readmePath,
      content: replaceSection(
        replaceSection(readFileSync(readmePath, 'utf8'), 'plugins', renderPluginTable(plugins)),
        'config',
        renderConfigTable(keys),
      ),
    },
    { path: resolve(ROOT, 'config/default.json'), content: renderDefaultConfig(keys) },
    { path: resolve(ROOT, 'config/flags.json'), content: renderFlagFile(plugins) },
  ];
}

function main() {
  for (const file of generatedFiles()) {
    const before = readFileSync(file.path, 'utf8');
    if (before === file.content) continue;
    writeFileSync(file.path, file.content);
    process.stdout.write(`updated ${file.path.slice(ROOT.length)}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
