import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { makePrivateDir } from '../util/private-files.js';

/**
 * Secret files, as GitLab keeps them: one value per file, generated with mode 0600 on first boot when
 * absent, so a fresh clone needs no setup and no secret ever has a default in a config file.
 */
export interface SecretStore {
  /**
   * Returns the file's contents (trailing newline removed), creating it with `generate()` first when it
   * does not exist. `file` is absolute, or relative to the data directory.
   */
  ensure(file: string, generate: () => string): string;
  /** Where a relative secret file lives. */
  pathOf(file: string): string;
}

export function createSecretStore(dataDir: string): SecretStore {
  const pathOf = (file: string) => (isAbsolute(file) ? file : resolve(dataDir, file));
  return {
    pathOf,
    ensure(file, generate) {
      const path = pathOf(file);
      try {
        return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      makePrivateDir(dirname(path));
      const value = generate();
      try {
        // 'wx' so two processes booting at once never overwrite each other's secret.
        writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
        chmodSync(path, 0o600);
        return value;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
        throw error;
      }
    },
  };
}

/** A store for tests and in-memory runs: generated values live only in this process. */
export function createMemorySecretStore(): SecretStore {
  const values = new Map<string, string>();
  return {
    pathOf: (file) => file,
    ensure(file, generate) {
      let value = values.get(file);
      if (value === undefined) values.set(file, (value = generate()));
      return value;
    },
  };
}
