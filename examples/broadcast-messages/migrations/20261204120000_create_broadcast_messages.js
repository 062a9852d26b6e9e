/**
 * Broadcast messages, in a table prefixed by the plugin's area as every plugin's tables are.
 * `target_access_levels` holds a JSON array: the API reads and writes it whole.
 */
export const MESSAGES_TABLE = 'broadcast_messages_messages';

export const createBroadcastMessages = {
  async up(knex) {
    await knex.schema.createTable(MESSAGES_TABLE, (t) => {
      t.increments('id').primary();
      t.text('message').notNullable();
      t.timestamp('starts_at', { useTz: true }).notNullable();
      t.timestamp('ends_at', { useTz: true }).notNullable();
      t.string('font', 7).notNullable();
      t.text('target_access_levels').notNullable();
      t.text('target_path').nullable();
      t.string('broadcast_type', 16).notNullable();
      t.boolean('dismissable').nullable();
      t.string('theme', 16).notNullable();
      t.timestamp('created_at', { useTz: true }).notNullable();
      t.timestamp('updated_at', { useTz: true }).notNullable();
    });
  },
  async down(knex) {
    await knex.schema.dropTableIfExists(MESSAGES_TABLE);
  },
};
