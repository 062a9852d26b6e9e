import type { Knex } from 'gatehouse';

/**
 * Namespace subscriptions, CI minute packs and upcoming reconciliations, each tied to a directory
 * namespace (and gone with it). Calendar dates are stored as `YYYY-MM-DD` strings: PostgreSQL's
 * `date` comes back as a local-midnight JS Date, which would shift days with the server's zone.
 */
export const createSubscriptions: Knex.Migration = {
  async up(knex) {
    await knex.schema.createTable('subscriptions_gitlab_subscriptions', (t) => {
      t.increments('id').primary();
      // One subscription per namespace: the constraint, not a read-then-write check, settles races.
      t.integer('namespace_id').notNullable().unique().references('id').inTable('directory_namespaces').onDelete('CASCADE');
      t.string('plan_code', 64).nullable();
      t.integer('seats').notNullable().defaultTo(0);
      t.integer('max_seats_used').notNullable().defaultTo(0);
      t.string('start_date', 10).notNullable();
      t.string('end_date', 10).nullable();
      t.boolean('auto_renew').nullable();
      t.boolean('trial').notNullable().defaultTo(false);
      t.string('trial_starts_on', 10).nullable();
      t.string('trial_ends_on', 10).nullable();
      t.integer('trial_extension_type').nullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
    });
    await knex.schema.createTable('subscriptions_ci_minutes_packs', (t) => {
      t.increments('id').primary();
      t.integer('namespace_id').notNullable().references('id').inTable('directory_namespaces').onDelete('CASCADE');
      t.integer('number_of_minutes').notNullable();
      t.string('expires_at', 10).notNullable();
      // A purchase is applied once, to one namespace (GitLab validates purchase_xid as unique).
      t.string('purchase_xid', 32).notNullable().unique();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
      t.index(['namespace_id']);
    });
    await knex.schema.createTable('subscriptions_upcoming_reconciliations', (t) => {
      t.increments('id').primary();
      t.integer('namespace_id').notNullable().unique().references('id').inTable('directory_namespaces').onDelete('CASCADE');
      t.string('next_reconciliation_date', 10).notNullable();
      t.string('display_alert_from', 10).notNullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
    });
  },
  async down(knex) {
    for (const table of ['subscriptions_upcoming_reconciliations', 'subscriptions_ci_minutes_packs', 'subscriptions_gitlab_subscriptions']) {
      await knex.schema.dropTableIfExists(table);
    }
  },
};
