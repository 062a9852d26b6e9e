import { z } from 'zod';
import { definePlugin } from '../../core/plugins/types.js';
import { randomHex } from '../../core/util/secrets.js';
import { createDirectory } from './migrations/20261122000000_create_directory.js';
import { UsersService } from './users-service.js';
import { KeysService } from './keys-service.js';
import { ProjectsService } from './projects-service.js';
import { directoryRoutes } from './routes.js';

const config = z.object({
  recoveryCodePepperFile: z
    .string()
    .default('.gatehouse_recovery_code_pepper')
    .describe('Secret file peppering 2FA recovery code digests (relative to dataDir; generated when absent).'),
});

/** Services the directory exports to dependants (tokens, internal-api, code-suggestions, …). */
export interface DirectoryServices {
  users: UsersService;
  keys: KeysService;
  projects: ProjectsService;
  externalUrl: string;
  version: { version: string; revision: string };
}

declare module '../../core/plugins/types.js' {
  interface PluginServices {
    directory: DirectoryServices;
  }
}

export const directoryPlugin = definePlugin({
  name: 'directory',
  version: '1.0.0',
  core: '^1.0.0',
  description: 'Users, SSH keys, groups and projects with memberships; /version, /user and admin user management.',
  config,
  migrations: { '20261122000000_create_directory': createDirectory },
  services: (deps): DirectoryServices => {
    const pepper = deps.secrets.ensure(deps.config.recoveryCodePepperFile, () => randomHex(32));
    return {
      users: new UsersService(deps.db, deps.clock, deps.bus, pepper),
      keys: new KeysService(deps.db, deps.clock),
      projects: new ProjectsService(deps.db, deps.clock),
      externalUrl: deps.app.externalUrl,
      version: deps.app.version,
    };
  },
  routes: directoryRoutes,
});

