import type { Knex } from 'gatehouse';

/**
 * OAuth applications: a user's own (`owner_id`) or instance-wide (`owner_id` null). Only a peppered
 * digest of the client secret is stored. Deleting the owner deletes their applications in the same
 * statement (ON DELETE CASCADE), so no application outlives its user; the OAuth tokens issued to an
 * application will reference it the same way.
 */
export const createOauthApplications: Knex.Migration = {
  async up(knex) {
    await knex.schema.createTable('oauth_applications', (t) => {
      t.increments('id').primary();
      t.integer('owner_id').nullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.string('name', 255).notNullable();
      // The client id (Doorkeeper's `uid`): 64 random hex characters.
      t.string('uid', 64).notNullable().unique();
      t.string('secret_digest', 128).notNullable();
      // One URI per line, as given.
      t.text('redirect_uri').notNullable();
      t.text('scopes').notNullable(); // JSON array
      t.boolean('confidential').notNullable().defaultTo(true);
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
      t.index(['owner_id']);
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists('oauth_applications');
  },
};
