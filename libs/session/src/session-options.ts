import { SessionIdSigner } from './cookie/id-signer.js';
import { SessionIdIssuer } from './cookie/session-id-issuer.js';
import { SessionOptionsError } from './session.exceptions.js';
import { type ResolvedCsrfOptions, resolveCsrfOptions } from './security/csrf-origin.js';

export { SessionOptionsError };
import type { SessionModuleOptions } from './session-options.interface.js';

/** Options after defaults and validation; durations in ms. Internal. */
export interface ResolvedSessionOptions {
  enabled: boolean;
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  rolling: boolean;
  /** Share of the idle timeout below which a session is renewed; undefined when off. */
  renew: number | undefined;
  keepPublicCookie: boolean;
  /** Deadline of every store call, in ms. */
  storeTimeoutMs: number;
  /** Whether a failed start-up check of the store stops `app.init()`. */
  failFast: boolean;
  /** What `SessionCsrfGuard` trusts besides the request's own origin. */
  csrf: ResolvedCsrfOptions;
  /** Signs and verifies cookie ids when a secret is configured. */
  signer: SessionIdSigner | undefined;
  /**
   * Mints ids and recognises the ones this application issued (keyed by `secret`, or by a key
   * made at start-up when there is none), so a new visitor keeps the id it was given.
   */
  ids: SessionIdIssuer;
  /** Largest session a server-side store accepts, in bytes of JSON; undefined when off. */
  maxSessionBytes: number | undefined;
  cookie: {
    name: string;
    path: string;
    domain: string | undefined;
    httpOnly: boolean;
    sameSite: 'lax' | 'strict' | 'none';
    secure: boolean | 'auto';
    persistent: boolean;
  };
}

export const DEFAULT_COOKIE_NAME = 'session_id';
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 86_400;
export const DEFAULT_ABSOLUTE_TIMEOUT_SECONDS = 604_800;
export const DEFAULT_STORE_TIMEOUT_MS = 3000;
/** Longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;
/**
 * 64 KiB: sixteen times what the cookie store can carry, so any session that fits a cookie
 * fits with room to spare, while a session read on every request stays cheap to parse and an
 * anonymous client can make the store hold at most this much per session it creates.
 */
export const DEFAULT_MAX_SESSION_BYTES = 65_536;

/** RFC 6265 cookie-name token: visible ASCII except separators. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Path attribute value: any CHAR except CTLs and ';', starting with '/'. */
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/;
/** Domain attribute value: a host name, optionally with a leading dot. */
const COOKIE_DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

function fail(message: string): never {
  throw new SessionOptionsError(message);
}

function seconds(name: string, value: unknown, fallback: number): number {
  // The fallback is in seconds like the option itself; both leave here in ms.
  if (value === undefined) return fallback * 1000;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    fail(`session ${name} must be a positive number of seconds (at least 1), got ${String(value)}`);
  }
  return Math.round(value * 1000);
}

function milliseconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS) {
    fail(`session ${name} must be a whole number of milliseconds between 1 and ${MAX_TIMER_MS}, got ${String(value)}`);
  }
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    fail(`session ${name} must be one of ${allowed.map((v) => `'${v}'`).join(', ')}, got ${String(value)}`);
  }
  return value as T;
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`session ${name} must be true or false, got ${String(value)}`);
  return value;
}

/** Applies defaults and refuses bad options with one clear sentence each. */
export function resolveSessionOptions(options: SessionModuleOptions = {}): ResolvedSessionOptions {
  const idleTimeoutMs = seconds('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT_SECONDS);
  const absoluteTimeoutMs = seconds('absoluteTimeout', options.absoluteTimeout, DEFAULT_ABSOLUTE_TIMEOUT_SECONDS);
  if (absoluteTimeoutMs < idleTimeoutMs) {
    fail('session absoluteTimeout must be at least idleTimeout');
  }

  const cookie = options.cookie ?? {};
  const name = cookie.name === undefined ? DEFAULT_COOKIE_NAME : cookie.name;
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    fail(`session cookie name ${JSON.stringify(name)} is not a valid cookie name (letters, digits and !#$%&'*+-.^_\`|~ only)`);
  }
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !COOKIE_PATH.test(path)) {
    fail(`session cookie path ${JSON.stringify(path)} must start with "/" and contain no spaces, ";" or control characters`);
  }
  const domain = cookie.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !COOKIE_DOMAIN.test(domain))) {
    fail(`session cookie domain ${JSON.stringify(domain)} is not a valid host name`);
  }
  const secure = cookie.secure === undefined ? 'auto' : cookie.secure;
  if (secure !== 'auto' && typeof secure !== 'boolean') {
    fail(`session cookie secure must be true, false or 'auto', got ${String(secure)}`);
  }
  const sameSite = oneOf('cookie sameSite', cookie.sameSite, ['lax', 'strict', 'none'] as const, 'lax');
  if (sameSite === 'none' && secure !== true) {
    fail("session cookie sameSite 'none' requires secure: true (browsers drop SameSite=None cookies without Secure)");
  }
  // RFC 6265bis matches the prefixes case-insensitively, and browsers enforce them that way:
  // a `__host-` cookie that breaks the rules is dropped just like a `__Host-` one.
  const lowerName = name.toLowerCase();
  if (lowerName.startsWith('__secure-') && secure !== true) {
    fail('session cookie names starting with __Secure- require secure: true');
  }
  if (lowerName.startsWith('__host-') && (secure !== true || path !== '/' || domain !== undefined)) {
    fail("session cookie names starting with __Host- require secure: true, path '/' and no domain");
  }

  const rolling = flag('rolling', options.rolling, false);
  const renew = options.renew;
  if (renew !== undefined && (typeof renew !== 'number' || !(renew > 0 && renew < 1))) {
    fail(`session renew must be a number between 0 and 1 (the share of the idle timeout left), got ${String(renew)}`);
  }
  if (rolling && renew !== undefined) {
    fail('session rolling and renew cannot be combined: rolling already re-sends the cookie on every response');
  }

  const maxSessionBytes = options.maxSessionBytes === undefined ? DEFAULT_MAX_SESSION_BYTES : options.maxSessionBytes;
  if (maxSessionBytes !== false && (!Number.isSafeInteger(maxSessionBytes) || maxSessionBytes < 1)) {
    fail(`session maxSessionBytes must be a positive integer (bytes of JSON) or false (no limit), got ${String(maxSessionBytes)}`);
  }

  return {
    enabled: flag('enabled', options.enabled, true),
    idleTimeoutMs,
    absoluteTimeoutMs,
    rolling,
    renew,
    keepPublicCookie: flag('keepPublicCookie', options.keepPublicCookie, false),
    storeTimeoutMs: milliseconds('storeTimeout', options.storeTimeout, DEFAULT_STORE_TIMEOUT_MS),
    failFast: flag('failFast', options.failFast, false),
    csrf: resolveCsrfOptions(options.csrf),
    signer: options.secret === undefined ? undefined : new SessionIdSigner(options.secret),
    ids: new SessionIdIssuer(options.secret),
    maxSessionBytes: maxSessionBytes === false ? undefined : maxSessionBytes,
    cookie: {
      name,
      path,
      domain,
      httpOnly: flag('cookie httpOnly', cookie.httpOnly, true),
      sameSite,
      secure,
      persistent: flag('cookie persistent', cookie.persistent, false),
    },
  };
}
