import { z, EMPTY, INVALID, p, ValidationError } from 'gatehouse';

/*
 * Parameter parsing the way GitLab's Grape endpoints do it for the customers portal: Grape's `Date`
 * type is Ruby's `Date.parse`, which takes "2021-06-13", "2021/06/13", "13/06/2021",
 * "13 Jun 2021", "June 13, 2021" and full timestamps alike, so the portal's "13 Jun 2021" and ISO
 * dates both work. Dates are kept as `YYYY-MM-DD` strings from here on.
 */

// Looked up through a Map: the month is user input, and a plain object would answer `constructor`.
const MONTHS = new Map<string, number>(Object.entries({
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, sept: 9, oct: 10, nov: 11, dec: 12,
  january: 1, february: 2, march: 3, april: 4, june: 6, july: 7, august: 8, september: 9, october: 10, november: 11, december: 12,
}));

const ISO = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$/;
const SLASHED_YMD = /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/;
const SLASHED_DMY = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;
const DAY_MONTH_YEAR = /^(?:[a-z]+,?\s+)?(\d{1,2})(?:st|nd|rd|th)?[\s-]+([a-z]+)\.?,?[\s-]+(\d{4})$/i;
const MONTH_DAY_YEAR = /^(?:[a-z]+,?\s+)?([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$/i;

function ymd(year: number, month: number | undefined, day: number): string | undefined {
  if (!month) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date.toISOString().slice(0, 10);
}

/** A date as Ruby's `Date.parse` reads the common formats, as `YYYY-MM-DD`; undefined when it is not one. */
export function parseDate(input: string): string | undefined {
  // Date.parse skips what surrounds a date; quotes pasted from shell examples are the common case.
  const s = input.trim().replace(/^(["'])(.*)\1$/, '$2').trim();
  let m = ISO.exec(s) ?? SLASHED_YMD.exec(s);
  if (m) return ymd(Number(m[1]), Number(m[2]), Number(m[3]));
  if ((m = SLASHED_DMY.exec(s))) return ymd(Number(m[3]), Number(m[2]), Number(m[1]));
  if ((m = DAY_MONTH_YEAR.exec(s))) return ymd(Number(m[3]), MONTHS.get(m[2].toLowerCase()), Number(m[1]));
  if ((m = MONTH_DAY_YEAR.exec(s))) return ymd(Number(m[3]), MONTHS.get(m[1].toLowerCase()), Number(m[2]));
  return undefined;
}

/** Marks an unparseable value so the schema reports `is invalid` (never a valid string). */
const UNPARSEABLE = Symbol('unparseable');

/** Grape's `Date`: blank (`null`, `""`) is nil, anything else must parse; → `YYYY-MM-DD` or null. */
export const grapeDate = () =>
  z.preprocess(
    (v) => {
      if (v === null || v === '') return null;
      if (typeof v !== 'string') return v === undefined ? undefined : UNPARSEABLE;
      return parseDate(v) ?? UNPARSEABLE;
    },
    z.string({ error: INVALID }).nullable(),
  );

/** Grape's Integer and Boolean, where an explicit `null` is nil (the model then decides). */
export const nullableInteger = () => p.integer().nullable();
export const nullableBoolean = () => p.boolean().nullable();

// ——— Arrays of hashes, validated as Grape does ———

/** How one attribute of every element of an array parameter is checked. */
export interface ElementAttribute<T> {
  name: string;
  /** Turns a present value into T, or undefined when it is not of the type (`is invalid`). */
  coerce: (value: unknown) => T | undefined;
  /** Grape's `allow_blank: false`. */
  allowBlank?: boolean;
}

const isBlank = (value: unknown) => value === null || value === undefined || (typeof value === 'string' && value.trim() === '');

/** Grape's Integer coercion of one value (nil stays nil). */
export const coerceInteger = (value: unknown): number | null | undefined => {
  if (value === null) return null;
  const parsed = p.integer().safeParse(value);
  return parsed.success ? parsed.data : undefined;
};

/** Grape's String coercion (numbers become strings; nil stays nil). */
export const coerceString = (value: unknown): string | null | undefined => {
  if (value === null) return null;
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value : undefined;
};

/** Grape's Date coercion of one value (blank is nil). */
export const coerceDate = (value: unknown): string | null | undefined => {
  if (value === null || value === '') return null;
  return typeof value === 'string' ? parseDate(value) : undefined;
};

/**
 * Validates `requires :<param>, type: Array do requires … end` the way Grape reports it: each
 * attribute's checks run over every element before the next attribute's (presence, then type, then
 * `allow_blank`), messages name the element (`packs[0][expires_at] is missing`, or without the index
 * for `Array[JSON]` params: `upcoming_reconciliations[namespace_id] is empty`), duplicates dropped.
 * Returns the coerced elements, or throws the 400.
 */
export function validateArrayOfHashes<T extends Record<string, unknown>>(
  param: string,
  value: unknown,
  attributes: ReadonlyArray<ElementAttribute<unknown>>,
  options: { indexed: boolean },
): T[] {
  if (value === undefined) throw new ValidationError([`${param} is missing`]);
  if (!Array.isArray(value)) throw new ValidationError([`${param} ${INVALID}`]);
  const messages: string[] = [];
  const add = (message: string) => {
    if (!messages.includes(message)) messages.push(message);
  };
  const elements = value.map((element) => (element && typeof element === 'object' && !Array.isArray(element) ? (element as Record<string, unknown>) : {}));
  const out = elements.map(() => ({}) as Record<string, unknown>);
  for (const attribute of attributes) {
    const name = (i: number) => `${param}${options.indexed ? `[${i}]` : ''}[${attribute.name}]`;
    elements.forEach((element, i) => {
      if (!(attribute.name in element)) add(`${name(i)} is missing`);
    });
    elements.forEach((element, i) => {
      if (!(attribute.name in element)) return;
      const coerced = attribute.coerce(element[attribute.name]);
      if (coerced === undefined) add(`${name(i)} ${INVALID}`);
      else out[i][attribute.name] = coerced;
    });
    if (attribute.allowBlank === false) {
      elements.forEach((element, i) => {
        if (isBlank(element[attribute.name])) add(`${name(i)} ${EMPTY}`);
      });
    }
  }
  if (messages.length) throw new ValidationError(messages);
  return out as T[];
}
