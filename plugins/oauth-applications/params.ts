import { z, paginationShape, EMPTY, INVALID, p } from 'gatehouse';

/**
 * The parameters of the application routes, declared in GitLab's Grape order (`name`,
 * `redirect_uri`, `scopes`, `confidential`) so that 400 bodies list the same messages in the same order.
 */

/**
 * `scopes`: Grape's `type: String, allow_blank: false`, split on whitespace as Doorkeeper reads it
 * (`"api read_user"`); also taken as an array (`scopes[]=api`, JSON arrays), which clients send too.
 * Missing is reported as Grape reports both rules: `scopes is missing, scopes is empty`.
 */
function scopes(required: true): z.ZodType<string[]>;
function scopes(required: false): z.ZodType<string[] | undefined>;
function scopes(required: boolean): z.ZodType<string[] | undefined> {
  const schema = z.unknown().transform((value, ctx): string[] | undefined => {
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message, input: value });
      return z.NEVER;
    };
    if (value === undefined) {
      ctx.addIssue({ code: 'invalid_type', expected: 'string', input: undefined, message: INVALID } as never);
      return fail(EMPTY);
    }
    if (value === null) return fail(EMPTY);
    const strings = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((s) => typeof s === 'string') ? value : undefined;
    if (!strings) return fail(INVALID);
    const given = strings.flatMap((s: string) => s.split(/\s+/)).filter(Boolean);
    return given.length ? given : fail(EMPTY);
  });
  // `.optional()` lets the key be absent; without it zod reports an absent key before the transform runs.
  return required ? schema : schema.optional();
}

/** `confidential`: Grape Boolean, default true; null or blank also mean "not given". */
const confidential = () => z.preprocess((v) => (v === null || v === '' ? undefined : v), p.boolean().optional());
/** An optional Grape Boolean (`trusted`, `device_code_enabled`); null or blank mean "not given". */
const flag = confidential;

export const CreateApplicationParams = z.object({
  name: p.string(),
  redirect_uri: p.string(),
  scopes: scopes(true),
  confidential: confidential(),
  device_code_enabled: flag(),
});

/** Admins' `POST /applications` also sets `trusted` (the consent page is skipped). */
export const CreateInstanceApplicationParams = CreateApplicationParams.extend({ trusted: flag() });

export const UpdateApplicationParams = z.object({
  id: p.integer(),
  name: p.string().optional(),
  redirect_uri: p.string().optional(),
  scopes: scopes(false),
  confidential: confidential(),
  device_code_enabled: flag(),
});

export const UpdateInstanceApplicationParams = UpdateApplicationParams.extend({ trusted: flag() });

export const ApplicationIdParams = z.object({ id: p.integer() });

export const ListOwnApplicationsParams = z.object(paginationShape);
