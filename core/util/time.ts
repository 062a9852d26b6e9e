/** Database drivers return timestamps as Date (pg), epoch ms (sqlite3) or strings; all become Date. */
export function toDate(value: unknown): Date;
export function toDate(value: unknown | null | undefined): Date | null;
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  const parsed = new Date(String(value));
  return Number.isNaN(parsed.getTime()) ? null : parsed;
}

/** RFC 3339 with `T` and `Z` (what GitLab's JSON timestamps look like), or null. */
export const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);

/** The UTC calendar day of an instant: `YYYY-MM-DD`. GitLab's "today" for token expiry is UTC. */
export const utcDay = (value: Date) => value.toISOString().slice(0, 10);

/** Midnight UTC at the start of a `YYYY-MM-DD` day. */
export const startOfUtcDay = (day: string) => new Date(`${day}T00:00:00.000Z`);

/** `YYYY-MM-DD` plus n days. */
export function addDays(day: string, days: number): string {
  const date = startOfUtcDay(day);
  date.setUTCDate(date.getUTCDate() + days);
  return utcDay(date);
}

const DAY_MS = 86_400_000;

/**
 * `utcDay(clock.now())` without formatting a date on every call: the day string is recomputed only
 * when the instant leaves the cached day (hot paths check token expiry on every request).
 */
export function utcDayCache(now: () => Date): () => string {
  let dayStart = Number.POSITIVE_INFINITY;
  let day = '';
  return () => {
    const ms = now().getTime();
    if (ms < dayStart || ms >= dayStart + DAY_MS) {
      dayStart = ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
      day = utcDay(new Date(dayStart));
    }
    return day;
  };
}
