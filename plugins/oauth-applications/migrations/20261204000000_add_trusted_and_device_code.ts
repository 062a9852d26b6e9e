import type { Knex } from 'gatehouse';

/**
 * GitLab's application flags: `trusted` (set by admins: the provider skips the consent page) and
 * `device_code_enabled` (the device authorization grant). Existing applications keep the device flow,
 * as GitLab's migration did; new ones default to false (the service sets it on create).
 */
export const addTrustedAndDeviceCode: Knex.Migration = {
  async up(knex) {
    await knex.schema.alterTable('oauth_applications', (t) => {
      t.boolean('trusted').notNullable().defaultTo(false);
      t.boolean('device_code_enabled').notNullable().defaultTo(true);
    });
  },
  async down(knex) {
    await knex.schema.alterTable('oauth_applications', (t) => {
      t.dropColumn('trusted');
      t.dropColumn('device_code_enabled');
    });
  },
};
