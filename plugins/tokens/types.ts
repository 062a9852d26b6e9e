import type { PluginServices } from '../../core/plugins/types.js';

/** The directory's user, as its exported services return it (typed through PluginServices, not imports). */
export type User = NonNullable<Awaited<ReturnType<PluginServices['directory']['users']['findById']>>>;
export type DirectoryServices = PluginServices['directory'];
