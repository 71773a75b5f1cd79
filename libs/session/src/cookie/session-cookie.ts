import { stringifySetCookie } from 'cookie';
import type { ResolvedSessionOptions } from '../session-options.js';

/** Browsers keep cookies up to this size (name, value and attributes); RFC 6265 section 6.1. */
export const COOKIE_SIZE_LIMIT = 4096;

/** Value of the public companion cookie: it says only that a session exists. */
const PUBLIC_COOKIE_VALUE = '1';

/**
 * Writes the Set-Cookie lines of the session cookie and its optional public companion, with
 * the configured attributes. Clearing repeats the name, Path and Domain, so the browser
 * replaces the cookie it holds rather than adding another. Internal.
 */
export class SessionCookieWriter {
  constructor(private readonly options: ResolvedSessionOptions) {}

  /** The session cookie with `value`; `maxAge` in seconds, or undefined for a browser-session cookie. */
  live(value: string, maxAge: number | undefined, secure: boolean): string {
    return this.line(this.options.cookie.name, value, this.options.cookie.httpOnly, maxAge, secure);
  }

  /** The public companion cookie, in step with a live session cookie. */
  livePublic(maxAge: number | undefined, secure: boolean): string {
    return this.line(this.publicName(), PUBLIC_COOKIE_VALUE, false, maxAge, secure);
  }

  /** Expires the session cookie (and the public one when kept). */
  expired(secure: boolean): string[] {
    const lines = [this.line(this.options.cookie.name, '', this.options.cookie.httpOnly, 0, secure, true)];
    if (this.options.keepPublicCookie) lines.push(this.line(this.publicName(), '', false, 0, secure, true));
    return lines;
  }

  private publicName(): string {
    return `${this.options.cookie.name}.public`;
  }

  private line(name: string, value: string, httpOnly: boolean, maxAge: number | undefined, secure: boolean, expire = false): string {
    const cookie = this.options.cookie;
    return stringifySetCookie({
      name,
      value,
      path: cookie.path,
      domain: cookie.domain,
      httpOnly,
      sameSite: cookie.sameSite,
      secure,
      maxAge,
      expires: expire ? new Date(0) : undefined,
    });
  }
}
