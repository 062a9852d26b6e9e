import type { Knex } from 'gatehouse';

/** Personal access and impersonation tokens. Only a peppered digest of each token is stored. */
export const createPersonalAccessTokens: Knex.Migration = {
  async up(knex) {
    await knex.schema.createTable('tokens_personal_access_tokens', (t) => {
      t.increments('id').primary();
      t.integer('user_id').notNullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.string('name', 255).notNullable();
      t.string('description', 255).nullable();
      t.string('token_digest', 128).notNullable().unique();
      t.text('scopes').notNullable(); // JSON array
      t.boolean('impersonation').notNullable().defaultTo(false);
      t.boolean('revoked').notNullable().defaultTo(false);
      // A calendar day, 'YYYY-MM-DD' (UTC); compared as text, which orders like the dates.
      t.string('expires_at', 10).nullable();
      t.timestamp('last_used_at', { useTz: true }).nullable();
      t.integer('previous_personal_access_token_id').nullable().references('id').inTable('tokens_personal_access_tokens').onDelete('SET NULL');
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
      t.index(['user_id']);
      t.index(['previous_personal_access_token_id']);
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists('tokens_personal_access_tokens');
  },
};
