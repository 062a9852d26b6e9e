import type { PluginServices, Principal } from 'gatehouse';
import type { AccessToken } from './repository.js';

/** The directory's user, as its exported services return it (typed through PluginServices, not imports). */
export type User = NonNullable<Awaited<ReturnType<PluginServices['directory']['users']['findById']>>>;
export type DirectoryServices = PluginServices['directory'];

/** A token resolved with its user: everything authentication needs without touching the database. */
export interface ResolvedToken {
  token: AccessToken;
  user: User;
  /** The request principal for this token without `Sudo`, built on first use. */
  principal?: Principal;
}
