/**
 * Typed API errors. Each class carries its HTTP status and GitLab's exact body shape, because every
 * GitLab client shows these bodies to people. Only the error writer (`writeError` in
 * `core/http/middleware.ts`) turns them into responses.
 */

export type ErrorBody = Record<string, unknown>;

/** Base class: a status, a GitLab-shaped JSON body and optional extra headers. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body.message === 'string' ? body.message : JSON.stringify(body));
    this.name = new.target.name;
  }
}

const withReason = (base: string, reason?: string) => (reason ? `${base} - ${reason}` : base);

/** 400 `{"message":"400 Bad request[ - reason]"}` (GitLab's `bad_request!`, lower-case "request"). */
export class BadRequestError extends ApiError {
  constructor(reason?: string) {
    super(400, { message: withReason('400 Bad request', reason) });
  }
}

/**
 * 400 with the plain-text body `Bad Request`: GitLab's malformed-strings middleware answers a NUL byte
 * in the path or in any parameter this way, before any API code (and any JSON error shape) is reached.
 */
export class MalformedStringError extends ApiError {
  static readonly TEXT = 'Bad Request';
  readonly text = MalformedStringError.TEXT;
  constructor() {
    super(400, { message: MalformedStringError.TEXT }, { 'Content-Type': 'text/plain' });
  }
}

/** 400 `{"error":"name is missing, scopes is missing"}` — Grape parameter validation. */
export class ValidationError extends ApiError {
  constructor(readonly messages: string[]) {
    super(400, { error: messages.join(', ') });
  }
}

/** `{"message":{"field":["msg"]}}` — model validation (`render_validation_error!`), 400 unless told. */
export class ModelValidationError extends ApiError {
  constructor(readonly fields: Record<string, string[]>, status = 400) {
    super(status, { message: fields });
  }
}

/** `{"message":"<text>"}` with any status — GitLab's `render_api_error!` for service errors. */
export class ServiceError extends ApiError {
  constructor(status: number, message: string) {
    super(status, { message });
  }
}

/** 401 `{"message":"401 Unauthorized[ - reason]"}`. */
export class UnauthorizedError extends ApiError {
  constructor(reason?: string) {
    super(401, { message: withReason('401 Unauthorized', reason) });
  }
}

/** 403 `{"message":"403 Forbidden[ - reason]"}`. */
export class ForbiddenError extends ApiError {
  constructor(reason?: string) {
    super(403, { message: withReason('403 Forbidden', reason) });
  }
}

/** 404 `{"message":"404 <Resource> Not Found"}` (`not_found!`), or `404 Not Found` without a resource. */
export class NotFoundError extends ApiError {
  constructor(resource?: string) {
    super(404, { message: resource ? `404 ${resource} Not Found` : '404 Not Found' });
  }
}

/** 404 `{"message":"404 Not found"}` — GitLab's uncaught RecordNotFound, lower-case "found". */
export class RecordNotFoundError extends ApiError {
  constructor() {
    super(404, { message: '404 Not found' });
  }
}

/** 404 `{"error":"404 Not Found"}` — the catch-all for unmatched `/api/v4/*` routes. */
export class RouteNotFoundError extends ApiError {
  constructor() {
    super(404, { error: '404 Not Found' });
  }
}

/** 405 `{"message":"405 Method Not Allowed"}`. */
export class MethodNotAllowedError extends ApiError {
  constructor() {
    super(405, { message: '405 Method Not Allowed' });
  }
}

/** 412 `{"message":"412 Precondition Failed"}`. */
export class PreconditionFailedError extends ApiError {
  constructor() {
    super(412, { message: '412 Precondition Failed' });
  }
}

/** 413 `{"message":"413 Request Entity Too Large"}`. */
export class PayloadTooLargeError extends ApiError {
  constructor() {
    super(413, { message: '413 Request Entity Too Large' });
  }
}

export const RATE_LIMITED_MESSAGE = 'This endpoint has been requested too many times. Try again later.';

/** 429 `{"message":{"error":"This endpoint has been requested too many times. Try again later."}}` + `Retry-After`. */
export class TooManyRequestsError extends ApiError {
  constructor(retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super(429, { message: { error: RATE_LIMITED_MESSAGE } }, { 'Retry-After': String(retryAfterSeconds), ...headers });
  }
}

/** 503 `{"message":"503 Service Unavailable"}`. */
export class ServiceUnavailableError extends ApiError {
  constructor() {
    super(503, { message: '503 Service Unavailable' });
  }
}

/** 500 `{"message":"500 Internal Server Error"}` — the only body an unexpected failure ever gets. */
export const INTERNAL_ERROR_BODY = Object.freeze({ message: '500 Internal Server Error' });

/**
 * RFC 6750 token errors as GitLab's API guard renders them: 401 `invalid_token` carries a
 * `WWW-Authenticate` challenge; 403 `insufficient_scope` carries the acceptable scopes and no challenge.
 */
export class InvalidTokenError extends ApiError {
  constructor(description: string, realm: string) {
    super(
      401,
      { error: 'invalid_token', error_description: description },
      { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token", error_description="${description}"` },
    );
  }
}

export const INSUFFICIENT_SCOPE_DESCRIPTION = 'The request requires higher privileges than provided by the access token.';

export class InsufficientScopeError extends ApiError {
  constructor(acceptableScopes: readonly string[]) {
    super(403, {
      error: 'insufficient_scope',
      error_description: INSUFFICIENT_SCOPE_DESCRIPTION,
      scope: acceptableScopes.join(' '),
    });
  }
}
