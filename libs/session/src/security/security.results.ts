import {
  type SecurityDenialBody,
  SecurityDeniedException,
  SecurityRedirectException,
  checkDenialHeaders,
  checkDenialStatus,
  checkRedirectFlash,
  checkRedirectStatus,
  checkRedirectUrl,
} from './security.exceptions.js';

export type { SecurityDenialBody } from './security.exceptions.js';

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

/**
 * Denies the request with this response (Nova's `{false, StatusCode, Headers, Body}`):
 * `return deny({ status: 403, body: { message: 'Admins only' } })`, or `throw deny(...)` from
 * deeper down. The route handler does not run and the request's session changes are dropped.
 * Answers a frozen `SecurityDeniedException`. Throws `TypeError` on a status outside 400-599,
 * a header name that is not a token, or a header value with anything but visible ASCII,
 * spaces and tabs (Node refuses the rest when writing the response).
 */
export function deny(options: DenyOptions = {}): SecurityDeniedException {
  // Checked here too, so the error names the call the user wrote.
  const status = checkDenialStatus(options.status ?? 401, 'deny()');
  checkDenialHeaders(options.headers, 'deny()');
  // Frozen: a denial kept in a constant is returned by many requests.
  const denial = new SecurityDeniedException(status, { headers: options.headers, body: options.body });
  Object.freeze(denial);
  return denial;
}

/** Options of `redirectTo(url, options)`. */
export interface RedirectToOptions {
  /** 301, 302, 303, 307 or 308. Default: `302`. */
  status?: number;
  /**
   * Flash messages for the page redirected to, which reads them once with
   * `session.getFlash(key)`: `redirectTo('/login', { flash: { error: 'Please log in' } })`.
   * The denied request commits these and nothing else of its session changes. JSON values,
   * copied and checked here. Default: none.
   */
  flash?: Readonly<Record<string, unknown>>;
}

/**
 * Denies the request with a redirect (default 302) to `url`: `return redirectTo('/login')`
 * (or throw it); `redirectTo(url, 303)` or `redirectTo(url, { status, flash })` for another
 * status or flash messages for the page redirected to (see `RedirectToOptions`). The URL is
 * percent-encoded like Express's `res.redirect` does (encodeurl), on every platform:
 * `redirectTo('/café')` sends `Location: /caf%C3%A9`; existing `%XX` escapes and reserved
 * characters (`?&=/#...`) are kept, so an encoded URL passes unchanged. Answers a frozen
 * `SecurityRedirectException`. Throws `TypeError` on a URL with control characters or a bad
 * status, `SessionValueError` on a flash value JSON cannot carry.
 * Never pass an unchecked user-supplied URL (open redirect).
 */
export function redirectTo(url: string, statusOrOptions: number | RedirectToOptions = 302): SecurityRedirectException {
  const options = typeof statusOrOptions === 'number' ? { status: statusOrOptions } : statusOrOptions;
  const status = options.status ?? 302;
  checkRedirectUrl(url, 'redirectTo()');
  checkRedirectStatus(status, 'redirectTo()');
  const redirect = new SecurityRedirectException(url, status, { flash: checkRedirectFlash(options.flash, 'redirectTo()') });
  Object.freeze(redirect);
  return redirect;
}

/**
 * @deprecated `deny()` now answers a `SecurityDeniedException`; this is that class under its
 * former name, kept so `instanceof SecurityDenial` and the type still work. Construct with
 * `deny(options)` (the class takes `(status, options)`).
 */
export const SecurityDenial = SecurityDeniedException;
/** @deprecated See the value `SecurityDenial`. */
export type SecurityDenial = SecurityDeniedException;

/**
 * @deprecated `redirectTo()` now answers a `SecurityRedirectException`; this is that class
 * under its former name, kept so `instanceof SecurityRedirect` and the type still work (its
 * `url` is `location`).
 */
export const SecurityRedirect = SecurityRedirectException;
/** @deprecated See the value `SecurityRedirect`. */
export type SecurityRedirect = SecurityRedirectException;
