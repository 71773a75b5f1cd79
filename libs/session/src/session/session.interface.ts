import type { SessionUpdateOptions } from './session-update.js';
import type { UserSessionMetadata } from '../users/user-sessions.js';

/**
 * The shape of your session data. Empty here; describe your keys by declaration merging:
 *
 * ```ts
 * declare module '@novanest/session' {
 *   interface SessionData { username: string; counter: number }
 * }
 * ```
 * Keys declared here are typed in `get`/`set`; other string keys stay `unknown`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SessionData {}

/** A key declared in `SessionData`. */
export type SessionKey = keyof SessionData & string;

/** The value type of `key`: as declared in `SessionData`, `unknown` for other keys. */
export type SessionValue<K extends string> = K extends SessionKey ? SessionData[K] : unknown;

/** Options of `session.regenerate(options)`. */
export interface RegenerateOptions {
  /** Only these keys move to the new id (`[]`: start empty). Default: every key moves. */
  keep?: readonly string[];
}

/**
 * One request's view of its session (`@Session() session: Session`). Nothing touches the
 * store until the first awaited call; changes are staged per key and written once, before the
 * response leaves. Values are JSON and are copied in: changing an object after `set` (or one
 * returned by `get`) changes nothing until it is `set` again.
 */
export interface Session {
  /**
   * The current session id. A visitor without a session gets a fresh id at once; an id the
   * store does not hold is replaced by a fresh one at the first write, and `regenerate` and
   * `destroy` replace it too.
   */
  readonly id: string;
  /**
   * `true` while the session has no record in the store. For a visitor who sent a cookie it is
   * settled by the first awaited call (`await session.load()` settles it without other effects).
   */
  readonly isNew: boolean;

  /** Loads the session now. Other calls load it on demand; this only settles `isNew`. */
  load(): Promise<void>;
  /** The value of `key`, or `undefined`. */
  get<K extends SessionKey>(key: K): Promise<SessionData[K] | undefined>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  /**
   * Stages `value` under `key`. Refuses, with `SessionValueError` and nothing staged, a value
   * that JSON cannot carry unchanged (functions, BigInt, cycles, Dates, class instances).
   */
  set<K extends string>(key: K, value: SessionValue<K>): Promise<void>;
  /**
   * Changes one key atomically: `fn` gets the key's current value (`undefined` when absent)
   * and returns the new JSON value, which is written to the store at once, only if no other
   * request changed the key meanwhile; otherwise `fn` runs again on the newer value. So
   * concurrent updates of one key, from any number of requests and nodes, lose nothing
   * (`MemoryStore`, `RedisStore` with or without its near-cache, Redis Cluster,
   * `PostgresStore`). **`fn` may run more than once: keep it pure** (no I/O, no side effects).
   *
   * Resolves with the value written. Written at once means: a 5xx response does not undo it.
   * It resolves `undefined`, writing nothing, when another request destroyed the session
   * meanwhile (logout wins; the cookie is expired, as for any change). Its store write moves
   * the idle timeout like any write. When the session has no record yet (a new visitor), the
   * key has a change staged in this request (`set`, `delete`, `clear`), or the store is a
   * `CookieStore`, `fn` runs on this request's own value and the result is staged like `set`:
   * committed with the response, last writer wins. Throws `SessionUpdateConflictException`
   * (a 503, nothing written) after `maxAttempts` refused attempts, and
   * `SessionUpdateUnsupportedError` for a store without `compareAndSet`.
   */
  update<K extends SessionKey>(
    key: K,
    fn: (current: SessionData[K] | undefined) => SessionData[K],
    options?: SessionUpdateOptions,
  ): Promise<SessionData[K] | undefined>;
  update<T = unknown>(key: string, fn: (current: T | undefined) => T, options?: SessionUpdateOptions): Promise<T | undefined>;
  /**
   * Adds `by` (default 1) to a number atomically: `update(key, (n) => (n ?? 0) + by)`. A key
   * holding something other than a number is refused with `SessionValueError`. Resolves with
   * the new number, or `undefined` when the session was destroyed meanwhile.
   */
  increment(key: SessionKey | string, by?: number): Promise<number | undefined>;
  /** Stages the removal of one key (Nova `delete/2`). */
  delete(key: SessionKey | string): Promise<void>;
  /** All values as a fresh plain object. */
  all(): Promise<Partial<SessionData> & Record<string, unknown>>;
  /**
   * Removes every key, and the CSRF secret and the user binding with them (the next token comes
   * from a new one; `userId` is `undefined` after it); the session itself and its id stay
   * (Phoenix `clear_session`).
   */
  clear(): Promise<void>;
  /**
   * Ends the session (Nova `delete/1`): the record is removed and the cookie expired. A later
   * `set` in the same request starts a new session under a new id.
   */
  destroy(): Promise<void>;
  /**
   * Moves the session to a new id (Phoenix `renew`); the old id stops working. Call it at login,
   * so that an id known before login is worthless after. It also starts a new absolute-timeout
   * period and a new CSRF secret (tokens issued before it are refused after it). Without
   * options every key moves along; `{ keep: ['cart'] }` moves only the listed keys and
   * `{ keep: [] }` starts empty, so nothing planted in an anonymous session follows the user
   * into the logged-in one. Flash messages set in this request move along either way; the user
   * binding (`bindUser`) moves along without options only.
   * Throws `SessionValueError` when `keep` is not an array of strings.
   */
  regenerate(options?: RegenerateOptions): Promise<void>;
  /**
   * Ends the session for this response (Phoenix `drop`): the record is removed, the cookie
   * expired, and nothing else is written or issued for the rest of the request. Other
   * sessions of the same user are not touched.
   */
  drop(): Promise<void>;
  /**
   * Stages a flash message: readable with `getFlash(key)` on the next request that uses the
   * session, and gone after it (Phoenix `put_flash`).
   */
  flash(key: string, value: unknown): Promise<void>;
  /** A flash message set by the previous request, or `undefined`. */
  getFlash<T = unknown>(key: string): Promise<T | undefined>;
  /**
   * The user this session is bound to (`bindUser`), or `undefined`. Settled by the first
   * awaited call, like `isNew`.
   */
  readonly userId: string | undefined;
  /**
   * Binds the session to a user, staged like a `set` and committed with the request: the
   * session joins the user's index, so `SessionService.listUserSessions(userId)` lists it and
   * `revokeUserSession(s)` can end it. Call it at login, right after `regenerate()`; the
   * binding moves along with a later `regenerate()` without options, and ends with the session,
   * `clear()` and `regenerate({ keep })`, so that a logout by any of them unbinds. `metadata` (user
   * agent, IP) is shown in the list; strings are cut to 512 (user agent) and 64 (IP) characters.
   * Throws `SessionValueError` for an empty or over-long (256+) user id, and
   * `SessionUserIndexUnsupportedError` at the call when the store keeps no per-user index (the
   * Nova-style and express-session adapters, `CookieStore`).
   */
  bindUser(userId: string, metadata?: UserSessionMetadata): Promise<void>;
  /** Writes nothing for this request and sends no cookie (Phoenix `ignore`). */
  ignoreChanges(): void;
  /** Writes the staged changes now instead of at the end of the request. */
  save(): Promise<void>;
}
