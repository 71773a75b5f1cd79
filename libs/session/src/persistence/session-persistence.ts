import type { SealedSession } from '../cookie/cookie-sealer.js';
import type { CompareAndSetResult, SessionWrite, StoredSession } from '../stores/session.store.js';

/** What the request's session cookie carried, once decoded and checked. Internal. */
export interface IncomingSession {
  /** The id the cookie names: well-formed, and verified when ids are signed or sealed. */
  readonly id: string;
  /** The cookie was signed or sealed under an older secret: send it again under the newest. */
  readonly stale: boolean;
  /** Sealed cookie: the session's record, opened from the cookie itself, so nothing is loaded. */
  readonly record?: StoredSession;
}

/** What a persistence reads from the session it writes a cookie for. `SessionHandle` is one. */
export interface PersistedSession {
  readonly id: string;
  /** No record exists yet (nothing written, or started over by `destroy()` / `regenerate()`). */
  readonly isNew: boolean;
  /**
   * The whole session as a sealed cookie would carry it at `now` (epoch ms): values with the
   * flash messages for the next request; a new session's expiry as its first write would set it.
   */
  snapshot(now: number): SealedSession;
  /**
   * The session's data (values and flash messages for the next request) as one JSON object,
   * in UTF-8 bytes. Kept per key, so asking after each change costs that change's size.
   */
  dataBytes(): number;
}

/**
 * Where a session's record lives, and so what the session cookie carries: a server-side store
 * keyed by a hash of the id (`StorePersistence`; the cookie carries the id) or the cookie
 * itself (`SealedCookiePersistence`; the cookie carries the sealed record and nothing is stored).
 * The module picks one per application at start-up (`createSessionPersistence`); each request's
 * handle holds a reference to it, so the handle keeps only the session API, the staging of
 * changes and the commit's outcome. Store failures come out as
 * `SessionStoreUnavailableException` (a 503), already logged. Internal.
 */
export interface SessionPersistence {
  /**
   * Whether the cookie goes out before any record exists. A store's id cookie does (every
   * visitor gets one on its first response); a sealed cookie has nothing to carry yet.
   */
  readonly cookieWithoutRecord: boolean;
  /**
   * Whether moving the expiry re-sends the cookie: it does when the expiry rides in the cookie
   * (a sealed record, a persistent cookie's Max-Age, or `renew`).
   */
  readonly cookieOnExtend: boolean;

  /**
   * The session the cookie value names, or `undefined` (logged at debug) when it names none:
   * malformed, badly signed, or not sealed by us. A client fault, so never an error.
   * @param now epoch ms, against which a sealed cookie's expiry is checked
   */
  decode(value: string, now: number): IncomingSession | undefined;
  /** The key the record of session `id` is addressed by (a store never sees the id itself). */
  recordKey(id: string): string;
  /** The live record under `key`, or `undefined` when there is none. */
  load(key: string): Promise<StoredSession | undefined>;
  /** Applies one request's changes; `false` when an update found the record gone. */
  write(key: string, change: SessionWrite): Promise<boolean>;
  /** Moves the record's expiry to `ttl` ms from now; `false` when the record is gone. */
  touch(key: string, ttl: number): Promise<boolean>;
  /**
   * Removes the record: `true` removed, `false` there was none, nothing when it cannot tell.
   * With `markUntil` (epoch ms), the key cannot be adopted (`adopt`) until then.
   */
  remove(key: string, markUntil?: number): Promise<boolean | void>;
  /**
   * When this application issued `id` (epoch ms), if a record may be started under that id at
   * its first write (`adopt`); `undefined` for an id it did not issue, or where records cannot
   * be adopted (a sealed cookie, a store without `adopt`). No I/O.
   */
  issuedAt(id: string, now: number): number | undefined;
  /**
   * Until when (epoch ms) removing `id`'s record must leave a mark that keeps its key from
   * adoption; `undefined` when the id can never be adopted. No I/O.
   */
  markUntil(id: string, now: number): number | undefined;
  /**
   * The first write of an issued id: creates the record, or merges into the one a parallel
   * request created; `false` (nothing written) when the id was destroyed. See `SessionStore.adopt`.
   */
  adopt?(key: string, change: SessionWrite): Promise<boolean>;
  /**
   * The atomic per-key update against the record (see `SessionStore.compareAndSet`). Absent
   * where the record travels with the request (a sealed cookie): `session.update` then works
   * on the request's own copy, staged like `set`. Throws `SessionUpdateUnsupportedError` for
   * a store that cannot do it.
   */
  compareAndSet?(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult>;
  /**
   * Runs `work` (one `session.update` of `field` in record `key`, all its attempts) after the
   * earlier updates of the same field in this process: present with `compareAndSet`.
   */
  inTurn?<T>(key: string, field: string, work: () => Promise<T>): Promise<T>;
  /**
   * Throws `SessionUserIndexUnsupportedError` (naming the store) unless sessions can be bound to
   * users here, i.e. listed and revoked per user.
   */
  assertCanBindUsers(): void;
  /**
   * Optional: whether a record that came with the request (a sealed cookie) still counts. Only
   * asked for records bound to a user; absent, every such record counts.
   */
  admit?(record: StoredSession): Promise<boolean>;
  /** Throws `SessionTooLargeError` when the session no longer fits its cookie or the store's limit. */
  assertFits(session: PersistedSession): void;
  /** The session cookie's value for `session`. */
  cookieValue(session: PersistedSession): string;
}
