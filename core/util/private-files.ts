import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * The data directory holds password hashes, token digests and secret files: what gatehouse creates
 * there is readable by its own user only. Modes are set with chmod as well, because the process
 * umask would otherwise decide them.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` and any missing parents with mode 0700. Directories that already exist keep the
 * modes their operator gave them.
 */
export function makePrivateDir(dir: string): void {
  const target = resolve(dir);
  const firstCreated = mkdirSync(target, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (!firstCreated) return;
  for (let created = target; ; created = dirname(created)) {
    chmodSync(created, PRIVATE_DIR_MODE);
    if (created === firstCreated) break;
  }
}

/** Creates an empty file with mode 0600 unless it exists (an existing file keeps its mode). */
export function ensurePrivateFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  try {
    chmodSync(path, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}
