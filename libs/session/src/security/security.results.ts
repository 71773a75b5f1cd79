import { STATUS_CODES } from 'node:http';

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

/** Options of `deny()`. */
export interface DenyOptions {
  /** HTTP status, 400-599. Default: 401. Use `redirectTo` for redirects. */
  status?: number;
  /** Extra response headers (e.g. `WWW-Authenticate`). Default: none. */
  headers?: Readonly<Record<string, string>>;
  /**
   * Response body: a string is sent as `text/plain` (unless `headers` set a Content-Type), an
   * object as JSON. Default: a short message for the status, JSON or text as the client accepts.
   */
  body?: SecurityDenialBody;
}

function checkHeaders(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const checked: Record<string, string> = {};
  if (headers === undefined) return checked;
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) {
      throw new TypeError(`deny(): invalid header name ${JSON.stringify(name)}`);
    }
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      throw new TypeError(
        `deny(): header ${name} must be a string of visible ASCII characters, spaces and tabs ` +
          '(no control characters, no non-ASCII: percent-encode those)',
      );
    }
    checked[name.toLowerCase()] = value;
  }
  return checked;
}

/** A denial returned by a security function. Create it with `deny()`. */
export class SecurityDenial {
  /** HTTP status (400-599). */
  readonly status: number;
  /** Response headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** Response body; `undefined` for the default message. */
  readonly body: SecurityDenialBody | undefined;

  constructor(options: DenyOptions = {}) {
    const status = options.status ?? 401;
    if (!Number.isInteger(status) || status < 400 || status > 599 || STATUS_CODES[status] === undefined) {
      throw new TypeError(`deny(): status must be an HTTP error status (400-599), got ${String(status)}`);
    }
    this.status = status;
    this.headers = Object.freeze(checkHeaders(options.headers));
    this.body = options.body;
    Object.freeze(this);
  }
}

/** A redirect returned by a security function. Create it with `redirectTo()`. */
export class SecurityRedirect {
  /** Where the client is sent (the `Location` header), percent-encoded (see `redirectTo`). */
  readonly url: string;
  /** Redirect status. Default: 302. */
  readonly status: number;

  constructor(url: string, status = 302) {
    if (typeof url !== 'string' || url.length === 0 || CONTROL_CHARS.test(url)) {
      throw new TypeError('redirectTo(): url must be a non-empty string without control characters');
    }
    if (!REDIRECT_STATUSES.has(status)) {
      throw new TypeError(`redirectTo(): status must be 301, 302, 303, 307 or 308, got ${String(status)}`);
    }
    this.url = encodeRedirectUrl(url);
    this.status = status;
    Object.freeze(this);
  }
}

/**
 * Denies the request with this response (Nova's `{false, StatusCode, Headers, Body}`):
 * `return deny({ status: 403, body: { message: 'Admins only' } })`. The route handler does not
 * run and the request's session changes are dropped. Throws `TypeError` on a status outside
 * 400-599, a header name that is not a token, or a header value with anything but visible
 * ASCII, spaces and tabs (Node refuses the rest when writing the response).
 */
export function deny(options: DenyOptions = {}): SecurityDenial {
  return new SecurityDenial(options);
}

/**
 * Denies the request with a redirect (default 302) to `url`: `return redirectTo('/login')`.
 * The URL is percent-encoded like Express's `res.redirect` does (encodeurl), on every
 * platform: `redirectTo('/café')` sends `Location: /caf%C3%A9`; existing `%XX` escapes and
 * reserved characters (`?&=/#...`) are kept, so an encoded URL passes unchanged. Throws
 * `TypeError` on a URL with control characters. Never pass an unchecked user-supplied URL
 * (open redirect).
 */
export function redirectTo(url: string, status = 302): SecurityRedirect {
  return new SecurityRedirect(url, status);
}
