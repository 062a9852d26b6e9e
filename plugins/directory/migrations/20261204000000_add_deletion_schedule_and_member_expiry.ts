import type { Knex } from 'gatehouse';

/**
 * When a group or project was marked for deletion (GitLab 18's delayed deletion: removed for good once
 * the retention period has passed), and when a membership expires.
 */
export const addDeletionScheduleAndMemberExpiry: Knex.Migration = {
  async up(knex) {
    await knex.schema.alterTable('directory_namespaces', (t) => {
      t.timestamp('marked_for_deletion_at', { useTz: true }).nullable();
      t.index(['marked_for_deletion_at']);
    });
    await knex.schema.alterTable('directory_projects', (t) => {
      t.timestamp('marked_for_deletion_at', { useTz: true }).nullable();
      t.index(['marked_for_deletion_at']);
    });
    await knex.schema.alterTable('directory_members', (t) => {
      t.string('expires_at', 10).nullable(); // YYYY-MM-DD, as GitLab's date column
      t.index(['source_type', 'source_id']);
    });
  },
  async down(knex) {
    await knex.schema.alterTable('directory_members', (t) => {
      t.dropIndex(['source_type', 'source_id']);
      t.dropColumn('expires_at');
    });
    await knex.schema.alterTable('directory_projects', (t) => {
      t.dropIndex(['marked_for_deletion_at']);
      t.dropColumn('marked_for_deletion_at');
    });
    await knex.schema.alterTable('directory_namespaces', (t) => {
      t.dropIndex(['marked_for_deletion_at']);
      t.dropColumn('marked_for_deletion_at');
    });
  },
};
