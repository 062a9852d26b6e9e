import type { PluginServices } from 'gatehouse';

/** What this plugin uses of its dependencies, typed through PluginServices (never their files). */
export type DirectoryServices = PluginServices['directory'];
export type TokensServices = PluginServices['tokens'];
export type User = NonNullable<Awaited<ReturnType<DirectoryServices['users']['findById']>>>;
export type SshKey = NonNullable<Awaited<ReturnType<DirectoryServices['keys']['findById']>>>;
export type Project = NonNullable<Awaited<ReturnType<DirectoryServices['projects']['findProjectById']>>>;
