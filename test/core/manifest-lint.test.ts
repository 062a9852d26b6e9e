import test from 'ava';
import { lintManifest, resolvePlugins } from '../../core/plugins/loader.js';
import { registry } from '../../core/plugins/registry.js';

// The loader only checks enabled plugins at boot; this runs the same rules over every shipped plugin.

for (const plugin of registry) {
  test(`plugin ${plugin.name} passes the manifest lint`, (t) => {
    t.deepEqual(lintManifest(plugin), []);
  });

  test(`every route of ${plugin.name} states its auth`, (t) => {
    for (const route of plugin.routes ?? []) {
      t.truthy(route.auth?.strategy, `${route.name} has an auth strategy`);
      if (route.auth.strategy === 'none') t.truthy(route.auth.reason?.trim(), `${route.name} says why it is public`);
    }
    t.pass();
  });
}

test('route names are unique across the registry', (t) => {
  const seen = new Map<string, string>();
  for (const plugin of registry) {
    for (const route of plugin.routes ?? []) {
      const owner = seen.get(route.name);
      t.is(owner, undefined, `${route.name} is declared by ${owner} and ${plugin.name}`);
      seen.set(route.name, plugin.name);
    }
  }
});

test('plugin names are unique and the whole registry loads when everything is enabled', (t) => {
  const names = registry.map((p) => p.name);
  t.is(new Set(names).size, names.length);
  t.notThrows(() => resolvePlugins(registry, new Set(names)));
});
