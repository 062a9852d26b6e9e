import type { Knex } from 'gatehouse';

/**
 * Devise's trackable columns, which GitLab's admin user entities show: when and from where the user
 * last signed in through the web sign-in form, the sign-in before that, and how many times.
 */
export const addUserSignInTracking: Knex.Migration = {
  async up(knex) {
    await knex.schema.alterTable('directory_users', (t) => {
      t.timestamp('current_sign_in_at', { useTz: true }).nullable();
      t.timestamp('last_sign_in_at', { useTz: true }).nullable();
      t.string('current_sign_in_ip', 64).nullable();
      t.string('last_sign_in_ip', 64).nullable();
      t.integer('sign_in_count').notNullable().defaultTo(0);
    });
  },
  async down(knex) {
    await knex.schema.alterTable('directory_users', (t) => {
      for (const column of ['current_sign_in_at', 'last_sign_in_at', 'current_sign_in_ip', 'last_sign_in_ip', 'sign_in_count']) t.dropColumn(column);
    });
  },
};
