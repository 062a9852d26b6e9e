/** GitLab's error bodies that many suites assert (reference §1.2, §1.4), in one place. */
export const UNAUTHORIZED = { message: '401 Unauthorized' };
export const FORBIDDEN = { message: '403 Forbidden' };
export const INSUFFICIENT_SCOPE_DESCRIPTION = 'The request requires higher privileges than provided by the access token.';
/** 403 `insufficient_scope` naming the acceptable scopes (space-separated). */
export const insufficientScope = (scope: string) => ({ error: 'insufficient_scope', error_description: INSUFFICIENT_SCOPE_DESCRIPTION, scope });
