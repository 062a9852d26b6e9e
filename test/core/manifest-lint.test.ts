import test from 'ava';
import { loadConfig } from '../../core/config/loader.js';
import { lintManifest, resolvePlugins, routesOf } from '../../core/plugins/loader.js';
import { registry } from '../../core/plugins/registry.js';

// The loader only checks enabled plugins at boot; this runs the same rules over every shipped plugin,
// with routes made from the default config where they come from config.

const defaults = loadConfig({ plugins: registry, files: false, env: {} }).plugins;
const routesByDefault = (plugin: (typeof registry)[number]) => routesOf(plugin, defaults[plugin.name]);

for (const plugin of registry) {
  test(`plugin ${plugin.name} passes the manifest lint`, (t) => {
    t.deepEqual(lintManifest(plugin, defaults[plugin.name]), []);
  });

  test(`every route of ${plugin.name} states its auth`, (t) => {
    for (const route of routesByDefault(plugin)) {
      t.truthy(route.auth?.strategy, `${route.name} has an auth strategy`);
      if (route.auth.strategy === 'none') t.truthy(route.auth.reason?.trim(), `${route.name} says why it is public`);
    }
    t.pass();
  });
}

test('route names are unique across the registry', (t) => {
  const seen = new Map<string, string>();
  for (const plugin of registry) {
    for (const route of routesByDefault(plugin)) {
      const owner = seen.get(route.name);
      t.is(owner, undefined, `${route.name} is declared by ${owner} and ${plugin.name}`);
      seen.set(route.name, plugin.name);
    }
  }
});

test('plugin names are unique and the whole registry loads when everything is enabled', (t) => {
  const names = registry.map((p) => p.name);
  t.is(new Set(names).size, names.length);
  t.notThrows(() => resolvePlugins(registry, new Set(names), [], defaults));
});
