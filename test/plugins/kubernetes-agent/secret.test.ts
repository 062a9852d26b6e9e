import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import pino from 'pino';
import { loadConfig } from '../../../core/config/loader.js';
import { createSecretStore, SecretFileError } from '../../../core/config/secrets.js';
import { createStaticFlags } from '../../../core/flags/resolver.js';
import { createGateway } from '../../../core/gateway.js';
import { registry } from '../../../core/plugins/registry.js';
import { ROOT_TOKEN } from '../../helpers/app.js';
import { decodeKasSecret } from '../../../plugins/kubernetes-agent/kas-jwt.js';

async function bootWithDataDir(dataDir: string, plugin: Record<string, unknown> = {}) {
  const config = loadConfig({
    plugins: registry,
    files: false,
    env: {},
    overrides: {
      dataDir,
      rootToken: ROOT_TOKEN,
      db: { client: 'sqlite3', filename: ':memory:' },
      log: { level: 'silent', requests: false },
      plugins: { 'kubernetes-agent': plugin },
    },
  });
  return createGateway({
    config,
    registry,
    flags: createStaticFlags(registry.flatMap((p) => p.flags ?? [])),
    secrets: createSecretStore(dataDir),
    logger: pino({ level: 'silent' }),
  });
}

async function withDataDir(run: (dataDir: string) => Promise<void>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-kas-'));
  try {
    await run(dataDir);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test('the KAS secret file is generated on first boot: base64 of 32 bytes, mode 0600, reused on the next boot', async (t) => {
  await withDataDir(async (dataDir) => {
    const first = await bootWithDataDir(dataDir);
    const file = join(dataDir, '.gitlab_kas_secret');
    const contents = readFileSync(file, 'utf8');
    t.regex(contents, /^[A-Za-z0-9+/]{43}=\n$/);
    t.is(statSync(file).mode & 0o777, 0o600);
    const secret = (first.services as any)['kubernetes-agent'].kasSecret as Buffer;
    t.is(secret.length, 32);
    t.deepEqual(secret, Buffer.from(contents.trim(), 'base64'));
    await first.close();
    const second = await bootWithDataDir(dataDir);
    t.deepEqual((second.services as any)['kubernetes-agent'].kasSecret, secret);
    await second.close();
  });
});

test('an existing GitLab secret file is used as is; its path comes from config', async (t) => {
  await withDataDir(async (dataDir) => {
    const key = randomBytes(32);
    writeFileSync(join(dataDir, 'kas.secret'), `${key.toString('base64')}\n`);
    const gateway = await bootWithDataDir(dataDir, { secretFile: join(dataDir, 'kas.secret') });
    t.deepEqual((gateway.services as any)['kubernetes-agent'].kasSecret, key);
    await gateway.close();
  });
});

test('a secret file that is not strict base64 of exactly 32 bytes stops boot, naming the file', async (t) => {
  const bad = [
    ['16 bytes', randomBytes(16).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['hex, as the shell secret', randomBytes(16).toString('hex')],
    ['unpadded base64', randomBytes(32).toString('base64').replace(/=+$/, '')],
    ['base64 with a line break inside', randomBytes(32).toString('base64').replace(/^(.{20})/, '$1\n')],
    ['base64url', Buffer.from(Array.from({ length: 32 }, () => 0xfb)).toString('base64url')],
  ];
  for (const [label, contents] of bad) {
    await withDataDir(async (dataDir) => {
      writeFileSync(join(dataDir, '.gitlab_kas_secret'), `${contents}\n`);
      const error = await t.throwsAsync(bootWithDataDir(dataDir), undefined, label);
      t.true(error instanceof SecretFileError, label);
      t.deepEqual(
        (error as SecretFileError).problems,
        [`plugins.kubernetes-agent: ${join(dataDir, '.gitlab_kas_secret')} must hold the base64 encoding of exactly 32 bytes (GitLab's .gitlab_kas_secret format)`],
        label,
      );
    });
  }
});

test('decodeKasSecret: strict decoding, as Ruby\'s Base64.strict_decode64', (t) => {
  const key = randomBytes(32);
  t.deepEqual(decodeKasSecret(key.toString('base64')), key);
  t.is(decodeKasSecret(` ${key.toString('base64')}`), undefined);
  t.is(decodeKasSecret(''), undefined);
  // Same bytes, but the last character carries bits a canonical encoding leaves zero.
  const canonical = Buffer.alloc(32).toString('base64');
  t.is(decodeKasSecret(`${canonical.slice(0, 42)}B=`), undefined);
});
