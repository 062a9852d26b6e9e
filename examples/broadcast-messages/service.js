import { BadRequestError, ModelValidationError } from 'gatehouse';
import { MessagesRepository } from './repository.js';

const HOUR_MS = 60 * 60 * 1000;
const DEFAULT_FONT = '#FFFFFF';
const DEFAULT_BROADCAST_TYPE = 'banner';
const DEFAULT_THEME = 'indigo';
/** GitLab's ColorValidator: `#` and three or six hex digits. */
const COLOR = /^#(?:[0-9A-Fa-f]{3}){1,2}$/;
const CANT_BE_BLANK = "can't be blank";
const NOT_A_COLOR = 'must be a valid color code';
const limitReached = (max) => `broadcast messages are limited to ${max}; delete one to create another`;

/** The attribute names of the API's parameters, as the repository takes them. */
function fromParams(params) {
  return {
    message: params.message,
    startsAt: params.starts_at,
    endsAt: params.ends_at,
    font: params.font,
    targetAccessLevels: params.target_access_levels,
    targetPath: params.target_path,
    broadcastType: params.broadcast_type,
    dismissable: params.dismissable,
    theme: params.theme,
  };
}

/** The model's validations (System::BroadcastMessage), as GitLab's `{"message":{"field":["…"]}}`. */
function modelErrors(attributes) {
  const errors = {};
  if (attributes.message !== undefined && !attributes.message.trim()) errors.message = [CANT_BE_BLANK];
  if (attributes.font && !COLOR.test(attributes.font)) errors.font = [NOT_A_COLOR];
  return errors;
}

function assertValid(attributes) {
  const errors = modelErrors(attributes);
  if (Object.keys(errors).length) throw new ModelValidationError(errors);
}

/** Broadcast messages: GitLab's defaults and validations, and the operator's cap on how many exist. */
export class MessagesService {
  constructor({ db, clock, maxMessages }) {
    this.db = db;
    this.clock = clock;
    this.maxMessages = maxMessages;
    this.repository = new MessagesRepository(db);
  }

  async list(page) {
    const [messages, total] = await Promise.all([this.repository.list(page), this.repository.count()]);
    return { messages, total };
  }

  find(id) {
    return this.repository.findById(id);
  }

  /** Starts now and ends an hour later unless told otherwise, as GitLab's defaults do. */
  async create(params) {
    const now = this.clock.now();
    const attributes = {
      font: DEFAULT_FONT,
      targetAccessLevels: [],
      targetPath: null,
      broadcastType: DEFAULT_BROADCAST_TYPE,
      dismissable: null,
      theme: DEFAULT_THEME,
      ...withoutUndefined(fromParams(params)),
      startsAt: params.starts_at ?? now,
      endsAt: params.ends_at ?? new Date(now.getTime() + HOUR_MS),
      createdAt: now,
      updatedAt: now,
    };
    assertValid(attributes);
    return this.db.transaction(async (trx) => {
      if ((await this.repository.count(trx)) >= this.maxMessages) throw new BadRequestError(limitReached(this.maxMessages));
      return this.repository.insert(attributes, trx);
    });
  }

  /** undefined when there is no such message. */
  async update(id, params) {
    const attributes = { ...fromParams(params), updatedAt: this.clock.now() };
    assertValid(attributes);
    return this.db.transaction(async (trx) => {
      if (!(await this.repository.findById(id, trx))) return undefined;
      return this.repository.update(id, attributes, trx);
    });
  }

  /** The deleted message (GitLab answers with it), or undefined when there was none. */
  async delete(id) {
    return this.db.transaction(async (trx) => {
      const message = await this.repository.findById(id, trx);
      if (message) await this.repository.delete(id, trx);
      return message;
    });
  }
}

const withoutUndefined = (object) => Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
