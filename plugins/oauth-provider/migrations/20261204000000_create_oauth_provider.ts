import type { Knex } from 'gatehouse';

/**
 * The OAuth provider's state: browser sessions, sign-in lockouts, authorization codes, access tokens
 * and device grants. Every secret (session id, code, access and refresh token, device code, user
 * code) is stored as a peppered digest. Rows reference their user and application with ON DELETE
 * CASCADE: deleting either ends its sessions and tokens in the same statement.
 */
export const createOauthProvider: Knex.Migration = {
  async up(knex) {
    await knex.schema.createTable('oauth_sessions', (t) => {
      t.increments('id').primary();
      t.string('digest', 64).notNullable().unique();
      t.integer('user_id').notNullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('last_seen_at', { useTz: true }).notNullable();
      t.timestamp('expires_at', { useTz: true }).notNullable();
      t.string('ip', 64).nullable();
      t.index(['user_id']);
    });
    await knex.schema.createTable('oauth_sign_in_lockouts', (t) => {
      t.integer('user_id').primary().references('id').inTable('directory_users').onDelete('CASCADE');
      t.integer('failed_attempts').notNullable().defaultTo(0);
      t.timestamp('locked_at', { useTz: true }).nullable();
    });
    await knex.schema.createTable('oauth_access_grants', (t) => {
      t.increments('id').primary();
      t.string('digest', 64).notNullable().unique();
      t.integer('application_id').notNullable().references('id').inTable('oauth_applications').onDelete('CASCADE');
      t.integer('user_id').notNullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.text('redirect_uri').notNullable();
      t.text('scopes').notNullable(); // JSON array
      t.string('code_challenge', 255).nullable();
      t.string('code_challenge_method', 16).nullable();
      t.string('nonce', 255).nullable();
      t.timestamp('auth_time', { useTz: true }).nullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('expires_at', { useTz: true }).notNullable();
      t.timestamp('used_at', { useTz: true }).nullable();
    });
    await knex.schema.createTable('oauth_access_tokens', (t) => {
      t.increments('id').primary();
      t.string('digest', 64).notNullable().unique();
      t.string('refresh_digest', 64).nullable().unique();
      t.integer('application_id').notNullable().references('id').inTable('oauth_applications').onDelete('CASCADE');
      // Null for client_credentials tokens: they act for the application, not for a user.
      t.integer('user_id').nullable().references('id').inTable('directory_users').onDelete('CASCADE');
      // The authorization code the token came from: a reused code revokes what it issued.
      t.integer('grant_id').nullable().references('id').inTable('oauth_access_grants').onDelete('SET NULL');
      t.text('scopes').notNullable(); // JSON array
      t.integer('expires_in').nullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('revoked_at', { useTz: true }).nullable();
      t.index(['application_id', 'user_id']);
      t.index(['user_id']);
      t.index(['grant_id']);
    });
    await knex.schema.createTable('oauth_device_grants', (t) => {
      t.increments('id').primary();
      t.string('digest', 64).notNullable().unique();
      t.string('user_code_digest', 64).notNullable().unique();
      t.integer('application_id').notNullable().references('id').inTable('oauth_applications').onDelete('CASCADE');
      t.text('scopes').notNullable(); // JSON array
      // Set once the user decided: approved (user_id) or denied.
      t.integer('user_id').nullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.boolean('denied').notNullable().defaultTo(false);
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('expires_at', { useTz: true }).notNullable();
      t.timestamp('last_polled_at', { useTz: true }).nullable();
    });
  },
  async down(knex) {
    for (const table of ['oauth_device_grants', 'oauth_access_tokens', 'oauth_access_grants', 'oauth_sign_in_lockouts', 'oauth_sessions']) {
      await knex.schema.dropTableIfExists(table);
    }
  },
};
