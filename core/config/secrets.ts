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
   * does not exist. `file` is absolute, or relative to the data directory. At boot, a file that is
   * empty (or only whitespace) or breaks `rule` is a boot error naming it, listed with every other one.
   */
  ensure(file: string, generate: () => string, rule?: SecretRule): string;
  /** Where a relative secret file lives. */
  pathOf(file: string): string;
}

/** What a secret file must hold beyond not being empty. */
export interface SecretRule {
  /** The fewest characters, surrounding whitespace not counted: what gatehouse (or GitLab) generates. */
  minLength?: number;
  /** Why the value is refused (completing "<file> …"), or undefined when it is fine. */
  check?: (value: string) => string | undefined;
}

/** Boot refused: secret files that are empty, too short or malformed, every one of them named. */
export class SecretFileError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid secret files:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SecretFileError';
  }
}

/** Why a secret file's contents are refused, or undefined. */
export function secretProblem(value: string, rule: SecretRule = {}): string | undefined {
  const length = value.trim().length;
  const minLength = Math.max(rule.minLength ?? 1, 1);
  const needs = minLength > 1 ? `; it must hold at least ${minLength} characters` : '';
  if (length === 0) return `is empty${needs}`;
  if (length < minLength) return `holds ${length} characters; it must hold at least ${minLength}`;
  return rule.check?.(value);
}

/**
 * The secret store the plugins get at boot: every file they read is checked against its rule, and the
 * problems are collected (by plugin) rather than thrown one at a time, so an operator fixing a data
 * directory sees every bad file at once. `throwIfAny()` ends the collection.
 */
export function checkingSecretStore(store: SecretStore) {
  const problems: string[] = [];
  /** A store whose problems are named after `owner`, the config section naming its files. */
  const forOwner = (owner: string): SecretStore => ({
    pathOf: store.pathOf,
    ensure(file, generate, rule) {
      const value = store.ensure(file, generate);
      const problem = secretProblem(value, rule);
      if (problem) problems.push(`${owner}: ${store.pathOf(file)} ${problem}`);
      return value;
    },
  });
  return {
    problems: problems as readonly string[],
    /** The store one plugin reads through: its problems are named after it. */
    forPlugin: (plugin: string) => forOwner(`plugins.${plugin}`),
    /** The store core reads a section's files through (e.g. `signing`): its problems are named after it. */
    forCore: (section: string) => forOwner(section),
    throwIfAny() {
      if (problems.length) throw new SecretFileError(problems);
    },
  };
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
