import { ApiError } from '../errors.js';

/** 502 `{"message":"502 Bad Gateway"}`: the upstream could not be reached, reset the connection or failed. */
export class BadGatewayError extends ApiError {
  constructor() {
    super(502, { message: '502 Bad Gateway' });
  }
}

/** 504 `{"message":"504 Gateway Timeout"}`: the upstream sent no first byte in time. */
export class GatewayTimeoutError extends ApiError {
  constructor() {
    super(504, { message: '504 Gateway Timeout' });
  }
}
