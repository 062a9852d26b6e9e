import type { Knex } from 'gatehouse';

/**
 * Agents and their tokens (only a peppered digest of each token is stored), KAS usage counters,
 * Cilium alerts and Starboard vulnerabilities. Counters live in the database so that every instance
 * adds to the same totals and they survive restarts.
 */
export const createKubernetesAgent: Knex.Migration = {
  async up(knex) {
    await knex.schema.createTable('kubernetes_agents', (t) => {
      t.increments('id').primary();
      t.integer('project_id').notNullable().references('id').inTable('directory_projects').onDelete('CASCADE');
      t.string('name', 63).notNullable();
      t.integer('created_by_user_id').nullable().references('id').inTable('directory_users').onDelete('SET NULL');
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.unique(['project_id', 'name']);
    });
    await knex.schema.createTable('kubernetes_agent_tokens', (t) => {
      t.increments('id').primary();
      t.integer('agent_id').notNullable().references('id').inTable('kubernetes_agents').onDelete('CASCADE');
      t.string('name', 255).notNullable();
      t.string('description', 1024).nullable();
      t.string('token_digest', 128).notNullable().unique();
      t.string('status', 16).notNullable();
      t.integer('created_by_user_id').nullable().references('id').inTable('directory_users').onDelete('SET NULL');
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('last_used_at', { useTz: true }).nullable();
      t.index(['agent_id']);
    });
    await knex.schema.createTable('kubernetes_agent_usage_counters', (t) => {
      t.string('name', 100).primary();
      t.bigInteger('value').notNullable().defaultTo(0);
    });
    await knex.schema.createTable('kubernetes_agent_unique_values', (t) => {
      t.string('counter', 100).notNullable();
      t.bigInteger('value').notNullable();
      t.primary(['counter', 'value']);
    });
    await knex.schema.createTable('kubernetes_agent_cilium_alerts', (t) => {
      t.increments('id').primary();
      t.integer('project_id').notNullable().references('id').inTable('directory_projects').onDelete('CASCADE');
      t.integer('agent_id').nullable().references('id').inTable('kubernetes_agents').onDelete('SET NULL');
      t.string('fingerprint', 64).notNullable();
      t.string('title', 255).notNullable();
      t.text('description').nullable();
      t.integer('events').notNullable();
      t.text('payload').notNullable(); // JSON object, as KAS sent it
      t.timestamp('started_at', { useTz: true }).notNullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
      t.unique(['project_id', 'fingerprint']);
    });
    await knex.schema.createTable('kubernetes_agent_vulnerabilities', (t) => {
      t.increments('id').primary();
      t.integer('project_id').notNullable().references('id').inTable('directory_projects').onDelete('CASCADE');
      t.integer('agent_id').nullable().references('id').inTable('kubernetes_agents').onDelete('SET NULL');
      t.string('uuid', 36).notNullable();
      t.string('name', 255).notNullable();
      t.string('severity', 32).notNullable();
      t.string('confidence', 32).nullable();
      t.text('report').notNullable(); // JSON: {vulnerability, scanner} as KAS sent them
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
      t.unique(['project_id', 'uuid']);
    });
  },
  async down(knex) {
    for (const table of [
      'kubernetes_agent_vulnerabilities',
      'kubernetes_agent_cilium_alerts',
      'kubernetes_agent_unique_values',
      'kubernetes_agent_usage_counters',
      'kubernetes_agent_tokens',
      'kubernetes_agents',
    ]) {
      await knex.schema.dropTableIfExists(table);
    }
  },
};
