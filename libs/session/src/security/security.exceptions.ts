import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { assertSessionKey, cloneSessionValue, isPlainObject } from '../session/session-value.js';

/** A header name as RFC 9110 allows it (a token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Header values must not carry control characters: CR/LF would split the response. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/**
 * What a denial header value may hold: visible ASCII, space and tab. Node accepts Latin-1 too
 * and refuses the rest only when the platform writes the header (a 500 on Fastify, a different
 * one on Express), so anything else is refused up front, the same way on both.
 */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Runs of characters a URL must not carry as they are (anything but the visible ASCII that
 * encodeurl keeps), and `%` signs that do not start a `%XX` escape. Same set as `encodeurl`.
 */
const URL_UNSAFE = /(?:[^\x21\x23-\x3B\x3D\x3F-\x5F\x61-\x7A\x7C\x7E]+|%+(?![0-9A-Fa-f]{2}))/g;
/** A surrogate pair (kept), or a lone surrogate (which `encodeURI` cannot encode). */
const SURROGATES = /([\uD800-\uDBFF][\uDC00-\uDFFF])|[\uD800-\uDFFF]/g;

/**
 * Percent-encodes a URL the way `encodeurl` (and so Express's `res.redirect`) does: UTF-8
 * escapes for non-ASCII, spaces and `"<>\`{}`, existing `%XX` escapes and reserved characters
 * kept, a lone surrogate replaced by U+FFFD. Encoding an encoded URL changes nothing, so
 * Express encoding it again agrees with Fastify, which sends it as given. Internal.
 */
export function encodeRedirectUrl(url: string): string {
  return url.replace(SURROGATES, (_, pair: string | undefined) => pair ?? '\uFFFD').replace(URL_UNSAFE, encodeURI);
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Body of a denial: text (sent as is) or an object (sent as JSON). */
export type SecurityDenialBody = string | Record<string, unknown> | unknown[];

/**
 * Checks a denial status (400-599, one Node knows) and answers it. `who` names the caller in
 * the error. Internal.
 */
export function checkDenialStatus(status: number, who: string): number {
  if (!Number.isInteger(status) || status < 400 || status > 599 || STATUS_CODES[status] === undefined) {
    throw new TypeError(`${who}: status must be an HTTP error status (400-599), got ${String(status)}`);
  }
  return status;
}

/** Checks a redirect status (301, 302, 303, 307, 308) and answers it. Internal. */
export function checkRedirectStatus(status: number, who: string): number {
  if (!REDIRECT_STATUSES.has(status)) {
    throw new TypeError(`${who}: status must be 301, 302, 303, 307 or 308, got ${String(status)}`);
  }
  return status;
}

/**
 * Checks denial headers: names are tokens, values visible ASCII, spaces and tabs (anything else
 * could split the response, or fail only when the platform writes it). Answers them with names
 * in lower case. Internal.
 */
export function checkDenialHeaders(headers: Readonly<Record<string, string>> | undefined, who: string): Record<string, string> {
  const checked: Record<string, string> = {};
  if (headers === undefined) return checked;
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) {
      throw new TypeError(`${who}: invalid header name ${JSON.stringify(name)}`);
    }
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      throw new TypeError(
        `${who}: header ${name} must be a string of visible ASCII characters, spaces and tabs ` +
          '(no control characters, no non-ASCII: percent-encode those)',
      );
    }
    checked[name.toLowerCase()] = value;
  }
  return checked;
}

/** Checks a redirect target (non-empty, no control characters) and answers it percent-encoded. Internal. */
export function checkRedirectUrl(url: string, who: string): string {
  if (typeof url !== 'string' || url.length === 0 || CONTROL_CHARS.test(url)) {
    throw new TypeError(`${who}: url must be a non-empty string without control characters`);
  }
  return encodeRedirectUrl(url);
}

/** Options of `SecurityRedirectException`. */
export interface SecurityRedirectOptions {
  /**
   * Flash messages for the next request (the page redirected to reads them with
   * `session.getFlash(key)`): JSON values, copied and checked when the redirect is made.
   * Default: none.
   */
  flash?: Readonly<Record<string, unknown>>;
}

/**
 * Checks a redirect's flash messages (a plain object of JSON values) and answers a frozen copy,
 * or `undefined` for none. Throws `SessionValueError` for a value JSON cannot carry. Internal.
 */
export function checkRedirectFlash(flash: unknown, who: string): Readonly<Record<string, unknown>> | undefined {
  if (flash === undefined) return undefined;
  if (!isPlainObject(flash)) throw new TypeError(`${who}: flash must be a plain object of messages, e.g. { error: 'Please log in' }`);
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flash)) {
    assertSessionKey(key);
    Object.defineProperty(copy, key, { value: cloneSessionValue(key, value), enumerable: true });
  }
  return Object.freeze(copy);
}

/** Options of `SecurityDeniedException`. */
export interface SecurityDeniedOptions {
  /** Response headers. Names are stored in lower case. Default: none. */
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
 * A refused request: what `deny(...)` returns (and `false` and `redirectTo(...)` turn into).
 * A security function may return it or throw it; `SessionAuthGuard` throws it either way, and
 * `SessionModule` renders it with its status, headers and body. Catch it with
 * `@Catch(SecurityDeniedException)` to render denials your way.
 *
 * Throws `TypeError` on a status outside 400-599, a header name that is not a token, or a
 * header value with anything but visible ASCII, spaces and tabs.
 */
export class SecurityDeniedException extends HttpException {
  /** Headers the denial response carries, names in lower case (frozen). */
  readonly headers: Readonly<Record<string, string>>;
  /** The body the security function asked for; `undefined` for the default message. */
  readonly body: SecurityDenialBody | undefined;

  constructor(status: number, options: SecurityDeniedOptions = {}) {
    const message = options.message ?? defaultMessage(status);
    super(SecurityDeniedException.responseFor(status, message, options.body), status);
    // A redirect checks its own (3xx) status before it gets here.
    if (!(this instanceof SecurityRedirectException)) checkDenialStatus(status, new.target.name);
    this.message = message;
    this.headers = Object.freeze(checkDenialHeaders(options.headers, new.target.name));
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
 * The client is sent elsewhere: what `redirectTo(url)` returns, a 302 (or the status given)
 * with `Location`. The location is percent-encoded as `redirectTo` does it (idempotent), so
 * one thrown directly sends the same header on Express and Fastify. Throws `TypeError` on an
 * empty URL or one with control characters, and on a status other than 301, 302, 303, 307, 308.
 */
export class SecurityRedirectException extends SecurityDeniedException {
  /** The redirect target, percent-encoded. */
  readonly location: string;
  /**
   * Flash messages for the page redirected to (frozen): `SessionAuthGuard` commits them, and
   * nothing else of the denied request. `undefined` for none.
   */
  readonly flash: Readonly<Record<string, unknown>> | undefined;

  constructor(location: string, status: number = HttpStatus.FOUND, options: SecurityRedirectOptions = {}) {
    const encoded = checkRedirectUrl(location, new.target.name);
    checkRedirectStatus(status, new.target.name);
    const flash = checkRedirectFlash(options.flash, new.target.name);
    super(status, { headers: { location: encoded }, message: `Redirecting to ${encoded}` });
    this.location = encoded;
    this.flash = flash;
  }

  /** @deprecated The former `SecurityRedirect`'s name for `location`. */
  get url(): string {
    return this.location;
  }
}
