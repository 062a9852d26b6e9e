import { createHash } from 'node:crypto';
import type { Knex } from 'gatehouse';

/**
 * What GitLab's admin user entity shows that the directory did not keep (public email, external flag,
 * admin note, creator, confirmation time, project and group creation limits), and the MD5 fingerprint
 * of every SSH key, which `GET /keys?fingerprint=` looks keys up by.
 */
export const addUserProfileAndKeyMd5: Knex.Migration = {
  async up(knex) {
    await knex.schema.alterTable('directory_users', (t) => {
      t.string('public_email', 255).nullable();
      t.boolean('external').notNullable().defaultTo(false);
      t.text('note').nullable();
      t.integer('created_by_id').nullable().references('id').inTable('directory_users').onDelete('SET NULL');
      t.timestamp('confirmed_at', { useTz: true }).nullable();
      t.integer('projects_limit').notNullable().defaultTo(100_000);
      t.boolean('can_create_group').notNullable().defaultTo(true);
    });
    // Users created before there was a confirmation time were usable at once: confirmed when created.
    await knex('directory_users').update({ confirmed_at: knex.ref('created_at') });

    await knex.schema.alterTable('directory_ssh_keys', (t) => {
      t.string('fingerprint_md5', 64).nullable();
      t.index(['fingerprint_md5']);
    });
    const keys = await knex('directory_ssh_keys').select('id', 'key');
    for (const row of keys) {
      await knex('directory_ssh_keys').where({ id: row.id }).update({ fingerprint_md5: md5Fingerprint(String(row.key)) });
    }
  },
  async down(knex) {
    await knex.schema.alterTable('directory_ssh_keys', (t) => {
      t.dropIndex(['fingerprint_md5']);
      t.dropColumn('fingerprint_md5');
    });
    await knex.schema.alterTable('directory_users', (t) => {
      t.dropForeign(['created_by_id']);
      for (const column of ['public_email', 'external', 'note', 'created_by_id', 'confirmed_at', 'projects_limit', 'can_create_group']) t.dropColumn(column);
    });
  },
};

/** `ssh-keygen -l -E md5` of a stored key line, without its `MD5:` prefix (`xx:xx:…`, 16 pairs). */
function md5Fingerprint(line: string): string {
  const blob = Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
  return createHash('md5').update(blob).digest('hex').replace(/(..)(?!$)/g, '$1:');
}
