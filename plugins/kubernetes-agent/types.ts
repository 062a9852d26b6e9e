import type { PluginServices, PrincipalUser } from 'gatehouse';

/** What this plugin uses of its dependencies, typed through PluginServices (never their files). */
export type DirectoryServices = PluginServices['directory'];
export type TokensServices = PluginServices['tokens'];
export type Project = NonNullable<Awaited<ReturnType<DirectoryServices['projects']['findProjectById']>>>;
/** The user a management request acts as. */
export type Viewer = PrincipalUser;
