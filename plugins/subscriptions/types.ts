import type { PluginServices } from 'gatehouse';

/** What this plugin uses of the directory, typed through PluginServices (never its files). */
export type DirectoryServices = PluginServices['directory'];
export type Namespace = NonNullable<Awaited<ReturnType<DirectoryServices['projects']['findNamespaceById']>>>;
