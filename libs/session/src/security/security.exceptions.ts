import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { type SecurityDenialBody, encodeRedirectUrl } from './security.results.js';

/** Options of `SecurityDeniedException`. */
export interface SecurityDeniedOptions {
  /** Response headers, names in lower case. Default: none. */
  headers?: Readonly<Record<string, string>>;
  /** Response body; `undefined` for the default message of the status. */
  body?: SecurityDenialBody;
  /** Short message for the default body and for logs. Default: the status text. */
  message?: string;
}

function defaultMessage(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/**
 * `SessionAuthGuard` refused a request (a security function returned `false`, `deny(...)` or
 * `redirectTo(...)`). Catch it with `@Catch(SecurityDeniedException)` to render denials your
 * way; `SessionModule` renders it by default with its status, headers and body.
 */
export class SecurityDeniedException extends HttpException {
  /** Headers the denial response carries, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body the security function asked for; `undefined` for the default message. */
  readonly body: SecurityDenialBody | undefined;

  constructor(status: number, options: SecurityDeniedOptions = {}) {
    const message = options.message ?? defaultMessage(status);
    super(SecurityDeniedException.responseFor(status, message, options.body), status);
    this.message = message;
    this.headers = Object.freeze({ ...(options.headers ?? {}) });
    this.body = options.body;
  }

  /** What `getResponse()` gives other filters: the object body, or Nest's usual error shape. */
  private static responseFor(status: number, message: string, body: SecurityDenialBody | undefined): object {
    if (typeof body === 'object' && !Array.isArray(body)) return body;
    return {
      statusCode: status,
      message: typeof body === 'string' ? body : message,
      error: defaultMessage(status),
    };
  }
}

/**
 * 401: the route needs an authenticated session and the request has none (its security
 * function returned `false`, or something that is not a valid result). The default body is
 * JSON for clients that accept JSON and short text otherwise.
 */
export class SessionUnauthorizedException extends SecurityDeniedException {
  constructor(options: Omit<SecurityDeniedOptions, 'message'> = {}) {
    super(HttpStatus.UNAUTHORIZED, { ...options, message: 'Authentication required; please log in.' });
  }
}

/**
 * The security function sent the client elsewhere (`redirectTo(url)`): a 302 with `Location`.
 * The location is percent-encoded as `redirectTo` does it (idempotent), so one thrown directly
 * sends the same header on Express and Fastify.
 */
export class SecurityRedirectException extends SecurityDeniedException {
  /** The redirect target, percent-encoded. */
  readonly location: string;

  constructor(location: string, status: number = HttpStatus.FOUND) {
    const encoded = encodeRedirectUrl(location);
    super(status, { headers: { location: encoded }, message: `Redirecting to ${encoded}` });
    this.location = encoded;
  }
}
