/** A session as a store holds it. */
export interface StoredSession {
  /** The session's values by key, already copied out of the store. */
  data: Map<string, unknown>;
  /** Creation time in ms since the epoch; the absolute timeout counts from here. */
  createdAt: number;
  /** Time in ms since the epoch at which the store expires the session unless it is touched. */
  expiresAt: number;
  /**
   * UTF-8 bytes of `data` as one JSON object, when the store has them at hand (`MemoryStore`
   * keeps each session as JSON text). Optional: without it, `maxSessionBytes` measures the
   * session itself, once per request that changes it.
   */
  jsonBytes?: number;
}

/** The staged changes of one request, applied by a store in one step. */
export interface SessionWrite {
  /**
   * `'create'`: a new record under a freshly minted key, holding exactly `set`.
   * `'update'`: changes to an existing record; a store must not recreate a record that is gone.
   */
  mode: 'create' | 'update';
  /** Keys to set, with JSON-safe values (already validated and copied). */
  set: ReadonlyMap<string, unknown>;
  /** Keys to remove (update only). */
  delete: readonly string[];
  /** Remove every key before applying `set` (update only). */
  clear: boolean;
  /** Creation time in ms since the epoch (create only; updates keep the stored one). */
  createdAt: number;
  /** Time to live in ms from now, as computed from the idle and absolute timeouts. */
  ttl: number;
  /**
   * Present when this write makes the record one of a user's sessions: a create of a bound
   * session (a login, a regenerate), or the write after `bindUser`. A store with `listByUser`
   * adds the record to the user's index; other stores ignore it. Absent on ordinary writes.
   */
  user?: SessionUserIndexEntry;
}

/** What a store indexes when a write binds a session to a user (`SessionWrite.user`). */
export interface SessionUserIndexEntry {
  /** The user the session belongs to, as the application names it. */
  readonly userId: string;
  /**
   * The latest time (ms since the epoch) the session can live: its absolute deadline. An index
   * entry is worthless after it, so a store may drop the entry then, without looking.
   */
  readonly deadline: number;
}

/** A live session of a user, as `SessionStore.listByUser` finds it. */
export interface UserSessionRecord {
  /** The record's store key. */
  readonly key: string;
  readonly session: StoredSession;
}

/**
 * Reserved session key under which the handle keeps a session's user binding
 * (`{ id, userAgent?, ip?, seenAt }`) in the record's data, so that every store carries it as
 * an ordinary per-key value. Applications cannot read or set it as a key.
 */
export const USER_BINDING_KEY = '$user';

/** The user id a session's data says it belongs to, or `undefined`. */
export function boundUserOf(data: ReadonlyMap<string, unknown>): string | undefined {
  const binding = data.get(USER_BINDING_KEY);
  if (typeof binding !== 'object' || binding === null) return undefined;
  const id = (binding as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * What `SessionStore.compareAndSet` found. `'applied'`: the key held `expected` and now holds
 * `next`. `'changed'`: it held `current` instead (`undefined`: the key is absent), and nothing
 * was written. `'gone'`: there is no live session under the record key (destroyed or
 * expired), and nothing was written.
 */
export type CompareAndSetResult =
  { readonly outcome: 'applied' } | { readonly outcome: 'changed'; readonly current: unknown } | { readonly outcome: 'gone' };

/**
 * Where sessions live. Implementations are keyed by an opaque `key` (a SHA-256 digest of the
 * session id: a store never sees a live id), apply each request's changes per key so that
 * concurrent requests that change different keys keep each other's writes, and never bring a
 * destroyed session back.
 *
 * The class doubles as the injection token: inject `SessionStore` to reach the configured store.
 */
export abstract class SessionStore {
  /** Reads a live session, or `undefined` when there is none or it has expired. */
  abstract get(key: string): Promise<StoredSession | undefined>;

  /**
   * Applies one request's changes. Resolves `false` when an `'update'` finds no live session
   * (it was destroyed or expired meanwhile); nothing is written then.
   */
  abstract write(key: string, change: SessionWrite): Promise<boolean>;

  /** Extends a live session's expiry to `ttl` ms from now. Resolves `false` when it is gone. */
  abstract touch(key: string, ttl: number): Promise<boolean>;

  /**
   * Removes a session. Removing a session that does not exist is not an error. Resolves `true`
   * when a live session was removed and `false` when there was none; a store that cannot tell
   * resolves nothing. `regenerate()` relies on the answer to notice a concurrent logout.
   *
   * `markTtl` (ms), given when the key's id could still be adopted (see `adopt`): for that
   * long, `adopt` of this key must refuse, whether or not a session was there, so a late
   * write carrying a destroyed id never brings it back. A mark is no session: `get`,
   * `write`'s updates, `touch`, `compareAndSet` and `listByUser` see nothing there, and a later
   * `destroy` answers `false` for it. Stores without `adopt` ignore it.
   */
  abstract destroy(key: string, markTtl?: number): Promise<boolean | void>;

  /**
   * Optional: the first write of an id this application issued to a new visitor, which
   * parallel requests may make at once (Nova keeps the id it issued). In one atomic step:
   * when a destroy mark is on `key` (see `destroy`), writes nothing and resolves `false`;
   * otherwise creates the session holding `change.set` (with `change.createdAt`) when there
   * is no live one, or sets `change.set` in the live one per key, as an update would (its
   * `createdAt` kept), and resolves `true`. Either way the expiry moves to `change.ttl` and
   * `change.user`, when present, indexes it. `change.mode` is `'create'`; `delete` and
   * `clear` are empty. A store without it gives the visitor a fresh id at its first write
   * instead (each parallel first write then starts its own session).
   */
  adopt?(key: string, change: SessionWrite): Promise<boolean>;

  /**
   * Optional start-up check, run once when the application boots: resolves when the store can
   * serve sessions, and otherwise rejects with one sentence that names the store, where it
   * looked (host and port, never credentials) and what to do, e.g.
   * `RedisStore: Redis at 127.0.0.1:6379 did not answer PING (connect ECONNREFUSED 127.0.0.1:6379): start Redis there or point the ioredis client at the right host and port`.
   * The module logs that sentence (or, with `failFast: true`, rejects `app.init()` with it).
   * Settle within `timeoutMs` (the `storeTimeout` option); the module gives up at that deadline
   * in any case. A store without `check` is not checked.
   */
  check?(timeoutMs: number): Promise<void>;

  /**
   * Optional, for `session.update(key, fn)` and `session.increment(key)`: in one atomic step,
   * if the live session under `key` holds `expected` under `field` (compared as JSON values;
   * `undefined` means the field is absent), sets it to `next` (a JSON value, already validated
   * and copied) and moves the session's expiry to `ttl` ms from now, as `write` does. Never
   * creates a session. `expected` is always a value this store returned (from `get` or an
   * earlier `'changed'`), so a store may compare the JSON text it holds.
   *
   * The handle calls it in a bounded retry loop, feeding each `'changed'` answer's `current`
   * back as `expected`; a store that returns the current value with its refusal saves a read
   * per retry. A store without it cannot serve `update` (the call throws
   * `SessionUpdateUnsupportedError`); everything else works as before.
   */
  compareAndSet?(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult>;
  /**
   * Optional: the live sessions bound to `userId` (by a write that carried `SessionWrite.user`
   * and whose data still names that user, see `boundUserOf`). A store that has it keeps a
   * per-user index that never outgrows the sessions it points at: entries go when their
   * sessions expire or are destroyed. Without it, `bindUser` and the `SessionService` calls for
   * a user's sessions throw `SessionUserIndexUnsupportedError`.
   */
  listByUser?(userId: string): Promise<UserSessionRecord[]>;
}
