import type { OnApplicationShutdown } from '@nestjs/common';
import { parseStoredValue } from '../../session/session-value.js';
import { KeyLock } from '../key-lock.js';
import { jsonEqual } from '../json-equal.js';
import { type CompareAndSetResult, SessionStore, type SessionWrite, type StoredSession } from '../session.store.js';

type Callback<T = void> = (error?: unknown, result?: T) => void;

/**
 * What `fromExpressSessionStore` needs from a connect-style store (express-session's `Store`:
 * connect-redis, connect-pg-simple, connect-mongo, express-session's `MemoryStore`, ...).
 */
export interface ExpressSessionStoreLike {
  get(sid: string, callback: (error: unknown, session?: object | null) => void): void;
  set(sid: string, session: object, callback?: (error?: unknown) => void): void;
  destroy(sid: string, callback?: (error?: unknown) => void): void;
  /**
   * Not called: the adapter extends a session by writing it again with `set` (see
   * `ExpressSessionStoreAdapter.touch`). Kept so any connect-style store type-checks.
   */
  touch?(sid: string, session: object, callback?: (error?: unknown) => void): void;
  /** Called at application shutdown when present (some stores keep timers or connections). */
  close?(): unknown;
}

/** Options of `fromExpressSessionStore`. */
export interface ExpressSessionStoreAdapterOptions {
  /** Call the wrapped store's `close()` (if any) at application shutdown. Default: `false`. */
  closeOnShutdown?: boolean;
}

/**
 * The record written to the wrapped store. `cookie.expires` is what connect-style stores read
 * to set their own TTL, so expiry also happens inside the wrapped store.
 */
interface WrappedRecord {
  cookie: { originalMaxAge: number; expires: Date | string; path: string; httpOnly: boolean };
  createdAt: number;
  data: Record<string, unknown>;
}

function expiryOf(record: WrappedRecord): number {
  return new Date(record.cookie.expires).getTime();
}

function isWrappedRecord(value: unknown): value is WrappedRecord {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Partial<WrappedRecord>;
  return (
    typeof record.createdAt === 'number' &&
    record.data !== null &&
    typeof record.data === 'object' &&
    record.cookie !== null &&
    typeof record.cookie === 'object' &&
    Number.isFinite(expiryOf(record as WrappedRecord))
  );
}

/** Detached copies: some stores keep the objects they are given. */
function copyJson<T>(value: T): T {
  return parseStoredValue(JSON.stringify(value)) as T;
}

function record(createdAt: number, data: ReadonlyMap<string, unknown>, now: number, ttl: number): WrappedRecord {
  return {
    cookie: { originalMaxAge: ttl, expires: new Date(now + ttl), path: '/', httpOnly: true },
    createdAt,
    // Object.fromEntries defines properties: a key named __proto__ stays data.
    data: copyJson(Object.fromEntries(data)),
  };
}

/**
 * Adapts a connect-style store (callbacks, whole-session objects) to `SessionStore`.
 *
 * Such stores read and write the whole session at once, so per-key merging is done here by
 * read-modify-write. Within this process changes to one session are serialised, which keeps
 * concurrent writes to different keys and makes a destroy win. Across processes nothing can
 * make a whole-object store atomic: two nodes committing to one session at the same time can
 * lose one of the two writes, and a node that read a session just before another node
 * destroyed it can write it back. Use `RedisStore` or `PostgresStore` where that matters.
 *
 * Sliding the idle timeout rewrites the whole record (with its new `cookie.expires`) instead
 * of calling the wrapped store's `touch`, because connect-redis and connect-pg-simple only
 * extend their own TTL there. So with this adapter a read that slides the timeout costs one
 * whole-record write, where `RedisStore` and `PostgresStore` only extend a TTL.
 *
 * No `adopt`: a connect-style store has no create-if-absent, so a new visitor's first write
 * under the id it was issued gets a fresh id (each of several parallel first writes its own
 * session), and destroy marks are not needed.
 */
export class ExpressSessionStoreAdapter extends SessionStore implements OnApplicationShutdown {
  private readonly lock = new KeyLock();

  constructor(
    protected readonly wrapped: ExpressSessionStoreLike,
    private readonly options: ExpressSessionStoreAdapterOptions = {},
  ) {
    super();
    for (const name of ['get', 'set', 'destroy'] as const) {
      if (typeof wrapped?.[name] !== 'function') {
        throw new Error(`fromExpressSessionStore needs a connect-style store with ${name}(sid, ..., callback)`);
      }
    }
  }

  async get(key: string): Promise<StoredSession | undefined> {
    const found = await this.read(key, Date.now());
    if (found === undefined) return undefined;
    return {
      data: new Map(Object.entries(found.data)),
      createdAt: found.createdAt,
      expiresAt: expiryOf(found),
    };
  }

  write(key: string, change: SessionWrite): Promise<boolean> {
    return this.lock.run(key, async () => {
      const now = Date.now();
      if (change.mode === 'create') {
        await this.call<void>((done) => this.wrapped.set(key, record(change.createdAt, change.set, now, change.ttl), done));
        return true;
      }
      const found = await this.read(key, now);
      if (found === undefined) return false;
      const data = change.clear ? new Map<string, unknown>() : new Map(Object.entries(found.data));
      for (const name of change.delete) data.delete(name);
      for (const [name, value] of change.set) data.set(name, value);
      await this.call<void>((done) => this.wrapped.set(key, record(found.createdAt, data, now, change.ttl), done));
      return true;
    });
  }

  /**
   * Extends the session by rewriting its whole record with `set`, never through the wrapped
   * store's `touch`: connect-redis and connect-pg-simple touch only their own TTL / `expire`
   * column and leave the stored `cookie.expires`, which is what this adapter judges expiry by,
   * so a session kept alive that way would still end at its first expiry.
   */
  touch(key: string, ttl: number): Promise<boolean> {
    return this.lock.run(key, async () => {
      const now = Date.now();
      const found = await this.read(key, now);
      if (found === undefined) return false;
      const next = record(found.createdAt, new Map(Object.entries(found.data)), now, ttl);
      await this.call<void>((done) => this.wrapped.set(key, next, done));
      return true;
    });
  }

  destroy(key: string): Promise<void> {
    return this.lock.run(key, () => this.call<void>((done) => this.wrapped.destroy(key, done)));
  }

  /**
   * The atomic per-key update (`session.update`), atomic within this process only: a
   * read-modify-write of the whole record under the same per-session queue as every other
   * change here. Across processes a whole-object store offers no atomic step, so two nodes
   * updating one key at the same instant can both apply and one update is lost. Use
   * `RedisStore` or `PostgresStore` for updates that must hold across nodes.
   */
  override compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    return this.lock.run(key, async (): Promise<CompareAndSetResult> => {
      const now = Date.now();
      const found = await this.read(key, now);
      if (found === undefined) return { outcome: 'gone' };
      const current = Object.hasOwn(found.data, field) ? found.data[field] : undefined;
      if (!jsonEqual(current, expected)) return { outcome: 'changed', current };
      const data = new Map(Object.entries(found.data));
      data.set(field, next);
      await this.call<void>((done) => this.wrapped.set(key, record(found.createdAt, data, now, ttl), done));
      return { outcome: 'applied' };
    });
  }

  onApplicationShutdown(): void {
    if (this.options.closeOnShutdown) this.wrapped.close?.();
  }

  private async read(key: string, now: number): Promise<WrappedRecord | undefined> {
    const found = await this.call<object | null | undefined>((done) => this.wrapped.get(key, done));
    if (!isWrappedRecord(found) || expiryOf(found) <= now) return undefined;
    return copyJson(found);
  }

  /** Callback to promise; a store that throws synchronously or calls back twice is tolerated. */
  private call<T>(start: (done: Callback<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const done: Callback<T> = (error, result) => {
        if (settled) return;
        settled = true;
        if (error !== undefined && error !== null) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(result as T);
      };
      try {
        start(done);
      } catch (error) {
        done(error ?? new Error('store call failed'));
      }
    });
  }
}

/**
 * Wraps an express-session store (connect-redis, connect-pg-simple, connect-mongo, ...) so an
 * application keeps its store when it moves to `@novanest/session`. Whole-object semantics:
 * see `ExpressSessionStoreAdapter` for what per-key concurrency it can and cannot promise.
 */
export function fromExpressSessionStore(
  store: ExpressSessionStoreLike,
  options?: ExpressSessionStoreAdapterOptions,
): ExpressSessionStoreAdapter {
  return new ExpressSessionStoreAdapter(store, options);
}
