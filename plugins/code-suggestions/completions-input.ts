import { z, EMPTY, INVALID, NOT_A_VALID_VALUE, whole } from 'gatehouse';

/** The original Code Suggestions API's limits (`ee/lib/api/code_suggestions.rb`). */
export const MAX_FILE_NAME = 255;
export const MAX_CONTENT = 400_000;
export const MAX_CONTEXT_CONTENT = 600_000;
export const MAX_USER_INSTRUCTION = 600_000;
export const INTENTS = ['completion', 'generation'] as const;
export const GENERATION_TYPES = ['comment', 'empty_function', 'small_file'] as const;
export const CONTEXT_TYPES = ['file', 'snippet'] as const;

/** A validated completion request: the known fields typed, every other key kept (passed upstream). */
export interface CompletionsInput {
  current_file: { file_name: string; content_above_cursor: string; content_below_cursor?: string; [key: string]: unknown };
  intent?: (typeof INTENTS)[number];
  stream: boolean;
  project_path?: string;
  generation_type?: (typeof GENERATION_TYPES)[number];
  context?: Array<{ type: string; name: string; content: string }>;
  user_instruction?: string;
  [key: string]: unknown;
}

const tooLong = (name: string, max: number) => `${name} must be less than ${max} characters`;
const isHash = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const BOOLEANS = new Map<string, boolean>([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
]);

/**
 * Grape's checks of `POST /code_suggestions/completions`, in its declaration order and wording
 * (`current_file[file_name] is missing`, `context is empty`, `context[0][type] does not have a valid
 * value`, `… must be less than 255 characters`). Written out rather than as a zod shape because the
 * nested names, the limit messages and the `is missing, is empty` pairs are Grape's, not zod's.
 */
function grapeMessages(params: Record<string, unknown>): string[] {
  const messages: string[] = [];
  const string = (name: string, value: unknown, options: { required?: boolean; max?: number; nonBlank?: boolean }) => {
    if (value === undefined || value === null) {
      if (options.required) messages.push(`${name} is missing`);
      if (options.required && options.nonBlank) messages.push(`${name} ${EMPTY}`);
      return;
    }
    if (typeof value !== 'string') return void messages.push(`${name} ${INVALID}`);
    if (options.nonBlank && value.trim() === '') messages.push(`${name} ${EMPTY}`);
    if (options.max !== undefined && value.length > options.max) messages.push(tooLong(name, options.max));
  };
  const oneOf = (name: string, value: unknown, allowed: readonly string[]) => {
    if (value !== undefined && value !== null && !allowed.includes(value as string)) messages.push(`${name} ${NOT_A_VALID_VALUE}`);
  };

  const file = params.current_file;
  if (file === undefined || file === null) {
    messages.push('current_file is missing', 'current_file[file_name] is missing', 'current_file[content_above_cursor] is missing');
  } else if (!isHash(file)) {
    messages.push(`current_file ${INVALID}`);
  } else {
    string('current_file[file_name]', file.file_name, { required: true, max: MAX_FILE_NAME });
    string('current_file[content_above_cursor]', file.content_above_cursor, { required: true, max: MAX_CONTENT });
    string('current_file[content_below_cursor]', file.content_below_cursor, { max: MAX_CONTENT });
  }
  oneOf('intent', params.intent, INTENTS);
  if (params.stream !== undefined && params.stream !== null && !BOOLEANS.has(String(params.stream))) messages.push(`stream ${INVALID}`);
  string('project_path', params.project_path, {});
  oneOf('generation_type', params.generation_type, GENERATION_TYPES);
  const context = params.context;
  if (context !== undefined && context !== null) {
    if (!Array.isArray(context)) messages.push(`context ${INVALID}`);
    else if (context.length === 0) messages.push(`context ${EMPTY}`);
    else {
      context.forEach((item, i) => {
        const at = `context[${i}]`;
        if (!isHash(item)) return void messages.push(`${at} ${INVALID}`);
        if (item.type === undefined || item.type === null) messages.push(`${at}[type] is missing`);
        else oneOf(`${at}[type]`, item.type, CONTEXT_TYPES);
        string(`${at}[name]`, item.name, { required: true, nonBlank: true, max: MAX_FILE_NAME });
        string(`${at}[content]`, item.content, { required: true, nonBlank: true, max: MAX_CONTEXT_CONTENT });
      });
    }
  }
  string('user_instruction', params.user_instruction, { max: MAX_USER_INSTRUCTION });
  return messages;
}

/**
 * The route's input schema: Grape's messages as whole messages, `stream` coerced to a boolean. The
 * params are taken as they come (always an object: query, body and path merged) rather than through
 * `z.looseObject({})`, which copies every key into a new object before the checks above even start;
 * the OpenAPI document still says "an object, any keys".
 */
export const CompletionsInputSchema = z
  .unknown()
  .meta({ type: 'object', additionalProperties: {} } as Record<string, unknown>)
  .transform((value, ctx): CompletionsInput => {
    const params = value as Record<string, unknown>;
    const messages = grapeMessages(params);
    for (const message of messages) ctx.addIssue({ code: 'custom', message: whole(message) });
    if (messages.length) return z.NEVER;
    // `params` is this request's own merged copy: typed in place rather than copied again.
    params.stream = params.stream === undefined || params.stream === null ? false : BOOLEANS.get(String(params.stream));
    return params as CompletionsInput;
  });
