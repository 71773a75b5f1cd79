import type { SessionStore } from './stores/session.store.js';

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
  /** Cookie attributes. */
  cookie?: SessionCookieOptions;
}
