import type { Knex } from 'gatehouse';

/** Users, SSH keys, namespaces (user namespaces and groups), projects, deploy-key links and memberships. */
export const createDirectory: Knex.Migration = {
  async up(knex) {
    await knex.schema.createTable('directory_users', (t) => {
      t.increments('id').primary();
      t.string('username', 255).notNullable();
      t.string('username_lower', 255).notNullable().unique();
      t.string('name', 255).notNullable();
      t.string('email', 255).notNullable();
      t.string('email_lower', 255).notNullable().unique();
      t.string('state', 32).notNullable().defaultTo('active');
      t.boolean('is_admin').notNullable().defaultTo(false);
      t.string('password_hash', 255).nullable();
      t.boolean('two_factor_enabled').notNullable().defaultTo(false);
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
    });
    await knex.schema.createTable('directory_recovery_codes', (t) => {
      t.increments('id').primary();
      t.integer('user_id').notNullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.string('code_digest', 128).notNullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.index(['user_id']);
    });
    await knex.schema.createTable('directory_namespaces', (t) => {
      t.increments('id').primary();
      t.string('kind', 16).notNullable(); // 'user' | 'group'
      t.string('name', 255).notNullable();
      t.string('path', 255).notNullable();
      t.string('full_path', 1024).notNullable();
      t.string('full_path_lower', 1024).notNullable().unique();
      t.integer('parent_id').nullable().references('id').inTable('directory_namespaces').onDelete('CASCADE');
      t.integer('owner_id').nullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.string('description', 2048).notNullable().defaultTo('');
      t.string('visibility', 16).notNullable().defaultTo('private');
      t.boolean('code_suggestions').notNullable().defaultTo(true);
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
      t.index(['parent_id']);
      t.index(['owner_id']);
    });
    await knex.schema.createTable('directory_projects', (t) => {
      t.increments('id').primary();
      t.integer('namespace_id').notNullable().references('id').inTable('directory_namespaces').onDelete('CASCADE');
      t.string('name', 255).notNullable();
      t.string('path', 255).notNullable();
      t.string('full_path', 1024).notNullable();
      t.string('full_path_lower', 1024).notNullable().unique();
      t.string('description', 2048).notNullable().defaultTo('');
      t.string('visibility', 16).notNullable().defaultTo('private');
      t.boolean('archived').notNullable().defaultTo(false);
      t.string('default_branch', 255).notNullable().defaultTo('main');
      t.string('repository_storage', 255).notNullable().defaultTo('default');
      t.string('disk_path', 1024).notNullable();
      t.integer('creator_id').nullable().references('id').inTable('directory_users').onDelete('SET NULL');
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
      t.index(['namespace_id']);
    });
    await knex.schema.createTable('directory_ssh_keys', (t) => {
      t.increments('id').primary();
      t.string('type', 16).notNullable(); // 'key' | 'deploy_key'
      t.integer('user_id').nullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.string('title', 255).notNullable();
      t.text('key').notNullable();
      t.string('fingerprint_sha256', 128).notNullable().unique();
      t.string('usage_type', 32).notNullable().defaultTo('auth_and_signing');
      t.timestamp('expires_at', { useTz: true }).nullable();
      t.timestamp('last_used_at', { useTz: true }).nullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.index(['user_id']);
    });
    await knex.schema.createTable('directory_deploy_keys_projects', (t) => {
      t.increments('id').primary();
      t.integer('deploy_key_id').notNullable().references('id').inTable('directory_ssh_keys').onDelete('CASCADE');
      t.integer('project_id').notNullable().references('id').inTable('directory_projects').onDelete('CASCADE');
      t.boolean('can_push').notNullable().defaultTo(false);
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.unique(['deploy_key_id', 'project_id']);
      t.index(['project_id']);
    });
    await knex.schema.createTable('directory_members', (t) => {
      t.increments('id').primary();
      t.string('source_type', 16).notNullable(); // 'namespace' | 'project'
      t.integer('source_id').notNullable();
      t.integer('user_id').notNullable().references('id').inTable('directory_users').onDelete('CASCADE');
      t.integer('access_level').notNullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.unique(['source_type', 'source_id', 'user_id']);
      t.index(['user_id']);
    });
  },
  async down(knex) {
    for (const table of [
      'directory_members',
      'directory_deploy_keys_projects',
      'directory_ssh_keys',
      'directory_projects',
      'directory_namespaces',
      'directory_recovery_codes',
      'directory_users',
    ]) {
      await knex.schema.dropTableIfExists(table);
    }
  },
};
