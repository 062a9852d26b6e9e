import test from 'ava';
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { TEST_DATABASE_URL, backendName } from '../../helpers/app.js';
import { makeEd25519Key } from '../../helpers/ssh-keys.js';
import { createDirectory } from '../../../plugins/directory/migrations/20261122000000_create_directory.js';
import { addUserProfileAndKeyMd5 } from '../../../plugins/directory/migrations/20261204000000_add_user_profile_and_key_md5.js';

/**
 * The migration adding the user profile columns and MD5 key fingerprints, over a database that
 * already holds users and keys: existing users count as confirmed when created, existing keys get
 * their MD5 fingerprint, and the migration can be undone.
 */

async function openDb(): Promise<{ db: Knex; drop: () => Promise<void> }> {
  if (!TEST_DATABASE_URL) {
    const db = knexFactory({ client: 'sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
    return { db, drop: () => db.destroy() };
  }
  const schema = `gh_mig_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: TEST_DATABASE_URL, pool: { min: 0, max: 1 } });
  await admin.raw('create schema ??', [schema]);
  const db = knexFactory({ client: 'pg', connection: TEST_DATABASE_URL, searchPath: [schema], pool: { min: 0, max: 1 } });
  return {
    db,
    async drop() {
      await db.destroy();
      await admin.raw('drop schema if exists ?? cascade', [schema]);
      await admin.destroy();
    },
  };
}

test(`existing users are confirmed when created and existing keys get their MD5 fingerprint (${backendName})`, async (t) => {
  const { db, drop } = await openDb();
  try {
    await createDirectory.up(db);
    const createdAt = new Date('2026-01-02T03:04:05.000Z');
    const [inserted] = await db('directory_users')
      .insert({ username: 'old', username_lower: 'old', name: 'Old', email: 'old@example.com', email_lower: 'old@example.com', created_at: createdAt, updated_at: createdAt })
      .returning('id');
    const userId = Number(typeof inserted === 'object' ? inserted.id : inserted);
    const key = makeEd25519Key('old@laptop');
    await db('directory_ssh_keys').insert({ type: 'key', user_id: userId, title: 'old key', key: key.line, fingerprint_sha256: key.fingerprintSha256, created_at: createdAt });

    await addUserProfileAndKeyMd5.up(db);

    const user = await db('directory_users').where({ id: userId }).first();
    t.is(new Date(user.confirmed_at).toISOString(), createdAt.toISOString());
    t.like(user, { public_email: null, note: null, created_by_id: null, projects_limit: 100000 });
    t.false(Boolean(user.external));
    t.true(Boolean(user.can_create_group));
    const row = await db('directory_ssh_keys').where({ user_id: userId }).first();
    t.is(row.fingerprint_md5, key.fingerprintMd5);

    await addUserProfileAndKeyMd5.down!(db);
    t.false(await db.schema.hasColumn('directory_users', 'public_email'));
    t.false(await db.schema.hasColumn('directory_ssh_keys', 'fingerprint_md5'));
    t.is((await db('directory_users').where({ id: userId }).first()).username, 'old');
  } finally {
    await drop();
  }
});
