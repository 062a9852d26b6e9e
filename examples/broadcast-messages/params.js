import { z, p, paginationShape } from 'gatehouse';

/**
 * The parameters of the Broadcast Messages API, declared in the order of GitLab's Grape endpoints so
 * that 400 bodies list the same messages in the same order. Built with gatehouse's `p` helpers, which
 * coerce and fail the way Grape does (`message is missing`, `broadcast_type does not have a valid value`).
 */

/** GitLab::Access levels a message can target: guest, reporter, developer, maintainer, owner. */
export const TARGET_ACCESS_LEVELS = ['10', '20', '30', '40', '50'];
export const BROADCAST_TYPES = ['banner', 'notification'];
export const THEMES = ['indigo', 'light-indigo', 'blue', 'light-blue', 'green', 'light-green', 'red', 'light-red', 'dark', 'light'];

/**
 * `target_access_levels`: Grape's Array[Integer] with CommaSeparatedToIntegerArray, so `10,30`,
 * `target_access_levels[]=10` and a JSON `[10, 30]` are all taken; integers are read as the strings the
 * value check compares.
 */
const targetAccessLevels = () =>
  z
    .preprocess((value) => (Array.isArray(value) ? value.map((level) => (typeof level === 'number' ? String(level) : level)) : value), p.valuesArray(TARGET_ACCESS_LEVELS))
    .transform((levels) => levels.map(Number));

/** The attributes POST and PUT share; POST requires `message`. */
const attributes = {
  starts_at: p.datetime().optional(),
  ends_at: p.datetime().optional(),
  font: p.string().optional(),
  target_access_levels: targetAccessLevels().optional(),
  target_path: p.string().optional(),
  broadcast_type: p.values(BROADCAST_TYPES).optional(),
  dismissable: p.boolean().optional(),
  theme: p.values(THEMES).optional(),
};

export const ListParams = z.object(paginationShape);
export const IdParams = z.object({ id: p.integer() });
export const CreateParams = z.object({ message: p.string(), ...attributes });
export const UpdateParams = z.object({ id: p.integer(), message: p.string().optional(), ...attributes });

