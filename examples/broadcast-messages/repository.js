import { toDate } from 'gatehouse';
import { MESSAGES_TABLE } from './migrations/20261204120000_create_broadcast_messages.js';

const COLUMNS = ['id', 'message', 'starts_at', 'ends_at', 'font', 'target_access_levels', 'target_path', 'broadcast_type', 'dismissable', 'theme', 'created_at', 'updated_at'];

/** A row as the rest of the plugin reads it: dates as Date, levels as an array, booleans as booleans (SQLite stores 0/1). */
function toMessage(row) {
  return {
    id: row.id,
    message: row.message,
    startsAt: toDate(row.starts_at),
    endsAt: toDate(row.ends_at),
    font: row.font,
    targetAccessLevels: JSON.parse(row.target_access_levels),
    targetPath: row.target_path,
    broadcastType: row.broadcast_type,
    dismissable: row.dismissable === null ? null : Boolean(row.dismissable),
    theme: row.theme,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

/** The columns of the attributes a message was given; absent attributes are left out. */
function toColumns(attributes) {
  const columns = {
    message: attributes.message,
    starts_at: attributes.startsAt,
    ends_at: attributes.endsAt,
    font: attributes.font,
    target_access_levels: attributes.targetAccessLevels && JSON.stringify(attributes.targetAccessLevels),
    target_path: attributes.targetPath,
    broadcast_type: attributes.broadcastType,
    dismissable: attributes.dismissable,
    theme: attributes.theme,
    created_at: attributes.createdAt,
    updated_at: attributes.updatedAt,
  };
  return Object.fromEntries(Object.entries(columns).filter(([, value]) => value !== undefined));
}

/** The SQL of broadcast messages. */
export class MessagesRepository {
  constructor(db) {
    this.db = db;
  }

  async count(trx = this.db) {
    const [{ total }] = await trx(MESSAGES_TABLE).count({ total: '*' });
    return Number(total);
  }

  /** Newest first, as GitLab lists them (`order_id_desc`). */
  async list({ offset, limit }) {
    const rows = await this.db(MESSAGES_TABLE).select(COLUMNS).orderBy('id', 'desc').offset(offset).limit(limit);
    return rows.map(toMessage);
  }

  async findById(id, trx = this.db) {
    const row = await trx(MESSAGES_TABLE).select(COLUMNS).where({ id }).first();
    return row ? toMessage(row) : undefined;
  }

  async insert(attributes, trx = this.db) {
    const [row] = await trx(MESSAGES_TABLE).insert(toColumns(attributes)).returning('id');
    return this.findById(typeof row === 'object' ? row.id : row, trx);
  }

  async update(id, attributes, trx = this.db) {
    await trx(MESSAGES_TABLE).where({ id }).update(toColumns(attributes));
    return this.findById(id, trx);
  }

  async delete(id, trx = this.db) {
    await trx(MESSAGES_TABLE).where({ id }).delete();
  }
}
