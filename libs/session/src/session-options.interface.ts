import type { SessionStore } from './stores/session.store.js';
import type { SessionCsrfOptions } from './security/csrf-origin.js';

/** How the session cookie is written. Every attribute has a safe default. */
export interface SessionCookieOptions {
  /**
   * Cookie name. `__Host-` and `__Secure-` prefixes are checked at start-up
   * (they need `secure: true`; `__Host-` also needs `path: '/'` and no `domain`).
   * Default: `'session_id'`.
   */
  name?: string;
  /** Cookie Path attribute. Default: `'/'`. */
  path?: string;
  /** Cookie Domain attribute. Default: none (host-only cookie). */
  domain?: string;
  /** HttpOnly attribute: keeps the id away from browser JavaScript. Default: `true`. */
  httpOnly?: boolean;
  /** SameSite attribute. `'none'` requires `secure: true`. Default: `'lax'`. */
  sameSite?: 'lax' | 'strict' | 'none';
  /**
   * Secure attribute. `'auto'` sets it when the request arrived over HTTPS as the platform
   * sees it (Express `trust proxy` and Fastify `trustProxy` are respected). Default: `'auto'`.
   */
  secure?: boolean | 'auto';
  /**
   * `false` writes a browser-session cookie (no Max-Age): it ends when the browser closes,
   * while the server-side timeouts still apply. `true` adds Max-Age equal to the session's
   * remaining lifetime, computed together with the store TTL. Default: `false`.
   */
  persistent?: boolean;
}

/** Options of `SessionModule.forRoot(store, options)`. */
export interface SessionModuleOptions {
  /**
   * Where sessions live. `forRoot(store)` passes it positionally; with `forRootAsync` the
   * factory returns it here. Default: a `MemoryStore` with its default limits.
   */
  store?: SessionStore;
  /**
   * `false` turns sessions off (no cookie, no store I/O); every session call then throws
   * `SessionsDisabledError`. Default: `true`.
   */
  enabled?: boolean;
  /**
   * Idle timeout in seconds: a session unused for this long expires. Sliding, kept
   * server-side. Default: `86400` (24 hours).
   */
  idleTimeout?: number;
  /**
   * Absolute timeout in seconds: a session expires this long after it was created (or
   * regenerated), however active it is. Kept server-side. Default: `604800` (7 days).
   */
  absoluteTimeout?: number;
  /**
   * Re-send the session cookie on every response whose handler used the session, extending
   * the idle timeout each time (koa-session's `rolling`). Costs a store touch per such request.
   * Cannot be combined with `renew`. Default: `false`.
   */
  rolling?: boolean;
  /**
   * Extend the session and re-send the cookie only when less than this share of the idle
   * timeout is left (koa-session's `renew`), so most responses carry no Set-Cookie.
   * A number between 0 and 1, e.g. `0.5`. Default: off (the idle timeout slides by itself,
   * with a store touch once it would gain a minute, or a tenth of it when that is shorter).
   */
  renew?: number;
  /**
   * Also keep a `<cookie name>.public` cookie readable by browser JavaScript, carrying no
   * information (value `1`), in step with the session cookie and removed with it, so a
   * front end can tell whether a session exists. Default: `false`.
   */
  keepPublicCookie?: boolean;
  /**
   * Sign the id in the cookie with HMAC-SHA256. The first secret signs, all verify, and a
   * cookie signed with an older secret is re-signed, so secrets rotate without logging anyone
   * out. Each secret must be at least 32 bytes. A bad signature means a fresh anonymous
   * session, without a store call. Default: none (ids are unguessable without it; signing
   * adds defence in depth and lets you invalidate every cookie by dropping a secret).
   *
   * The secrets also key the tag by which the application recognises the ids it issued, so a
   * new visitor keeps its id when its first writes arrive in parallel (a key of its own,
   * derived with HKDF; the first secret tags, all recognise). Give every node the same
   * secret: without one, each process draws its own key at start-up, and a first write that
   * reaches another node (or this one after a restart) gets a fresh id.
   */
  secret?: string | readonly string[];
  /**
   * Largest session a server-side store accepts, in bytes of its data as one JSON object
   * (UTF-8; keys, values and pending flash messages). A `set` or `flash` that would make the
   * session larger is refused with `SessionTooLargeError` and nothing of it is committed.
   * `false` turns the limit off. Ignored by `CookieStore`, whose limit is the cookie's 4096
   * bytes. Default: `65536` (64 KiB).
   */
  maxSessionBytes?: number | false;
  /** Cookie attributes. */
  cookie?: SessionCookieOptions;
  /**
   * Deadline of every store call, in milliseconds, enforced by the module for every store and
   * adapter. A call that has not answered by then fails the request with a 503
   * (`SessionStoreUnavailableException`), exactly as a refused connection does; its late
   * answer is ignored. The store may still apply a late write: the request that made it has
   * answered 503 and sent no cookie, so it reads as a failed attempt that took effect (a
   * retry writes the same keys again; an update never recreates a destroyed session; a new
   * session's record is never named by any cookie and expires by its TTL). Set the driver's
   * own timeouts shorter (ioredis `commandTimeout`, pg `query_timeout` and
   * `connectionTimeoutMillis`) so that connections are freed too. A whole number between 1
   * and 2147483647. Default: `3000` (3 seconds).
   */
  storeTimeout?: number;
  /**
   * When the store's start-up check fails (unreachable, or the Postgres table missing),
   * `true` makes `app.init()` / `app.listen()` reject with the check's sentence; `false` logs
   * that sentence once at error level and keeps serving, requests that need the store
   * answering 503 until it is there. Default: `false`.
   */
  failFast?: boolean;
  /**
   * What `SessionCsrfGuard` accepts besides the request's own origin (`trustedOrigins`), and
   * whether it refuses requests without any origin information (`requireOrigin`). Checked at
   * start-up. Default: only the request's own origin; the token alone decides for clients that
   * send neither `Origin` nor `Sec-Fetch-Site`.
   */
  csrf?: SessionCsrfOptions;
}
