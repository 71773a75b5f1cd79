import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { parseStoredValue } from '../../session/session-value.js';
import { KeyLock } from '../key-lock.js';
import { jsonEqual } from '../json-equal.js';
import { type CompareAndSetResult, SessionStore, type SessionWrite, type StoredSession } from '../session.store.js';

/**
 * A custom store written to Nova's session behaviour (`nova_session`): four value functions and
 * an optional start/stop. Everything else (timeouts, regenerate, flash, destroy-wins) is done by
 * the adapter that `fromNovaStore(backend)` returns.
 *
 * `id` is an opaque session key (a SHA-256 digest of the session id, never the id itself);
 * `key` is an opaque field name chosen by the adapter (your session keys with a `v:` prefix,
 * plus one bookkeeping field `m`). Values are JSON values: store them as they are or as
 * `JSON.stringify` text, and give back what you were given.
 *
 * Implement `expire` whenever the backend can expire records by itself (Redis `PEXPIRE`, a TTL
 * index, an `expires_at` column you sweep). Without it the adapter still refuses an expired
 * session, but only when that session is read again: the records of a session that is never
 * visited again (a closed browser, a bot) stay in the backend for good.
 *
 * ```ts
 * // Nova's Redis example, in TypeScript, plus expiry.
 * const redisBackend = (redis: Redis): NovaStoreBackend => ({
 *   async getValue(id, key) {
 *     const json = await redis.hget(`nova:${id}`, key);
 *     return json === null ? undefined : JSON.parse(json);
 *   },
 *   async setValue(id, key, value) {
 *     await redis.hset(`nova:${id}`, key, JSON.stringify(value));
 *   },
 *   async deleteValue(id, key) {
 *     if (key === undefined) await redis.del(`nova:${id}`);
 *     else await redis.hdel(`nova:${id}`, key);
 *   },
 *   async expire(id, ttlMs) {
 *     await redis.pexpire(`nova:${id}`, ttlMs);
 *   },
 * });
 * SessionModule.forRoot(fromNovaStore(redisBackend(new Redis())));
 * ```
 */
export interface NovaStoreBackend {
  /** The value stored under `key` of session `id`, or `undefined` when there is none. */
  getValue(id: string, key: string): Promise<unknown> | unknown;
  /** Stores `value` (a JSON value) under `key` of session `id`, creating the session if needed. */
  setValue(id: string, key: string, value: unknown): Promise<void> | void;
  /** Removes one key of session `id`, or, without `key`, the whole session. Never an error when absent. */
  deleteValue(id: string, key?: string): Promise<void> | void;
  /**
   * Optional. Makes every record of session `id` disappear `ttlMs` milliseconds from now (a
   * later deadline replaces an earlier one), e.g. `redis.pexpire(key, ttlMs)`. Called after
   * each write that creates or changes the session and after each touch (a read that slides
   * the idle timeout), once the values and the bookkeeping are written, with the session's
   * remaining lifetime: the idle timeout, capped by what is left of the absolute timeout.
   * Rounding up (to whole seconds, say) is fine; expiring earlier than asked ends sessions
   * early. When absent, records of sessions that are never visited again are never removed.
   */
  expire?(id: string, ttlMs: number): Promise<void> | void;
  /** Called once at application start (Nest `onModuleInit`). */
  start?(): Promise<void> | void;
  /** Called once at application shutdown. */
  stop?(): Promise<void> | void;
}

/** The adapter's bookkeeping, kept under the reserved field `m` of each session. */
interface NovaMeta {
  createdAt: number;
  expiresAt: number;
  keys: string[];
}

/** Reserved field for the bookkeeping; session keys are stored as `v:<key>` and cannot collide. */
const META_FIELD = 'm';
const VALUE_PREFIX = 'v:';

function valueField(key: string): string {
  return VALUE_PREFIX + key;
}

function isMeta(value: unknown): value is NovaMeta {
  if (value === null || typeof value !== 'object') return false;
  const meta = value as Partial<NovaMeta>;
  return (
    typeof meta.createdAt === 'number' &&
    typeof meta.expiresAt === 'number' &&
    Array.isArray(meta.keys) &&
    meta.keys.every((key) => typeof key === 'string')
  );
}

/** A detached copy, so a backend that keeps references never shares objects with a request. */
function copyJson(value: unknown): unknown {
  return parseStoredValue(JSON.stringify(value));
}

/**
 * Turns a `NovaStoreBackend` into a `SessionStore`. The backend only knows values by key, so
 * the adapter keeps the list of keys and both timestamps in a reserved field, and serialises
 * the changes to one session within this process: concurrent requests on one node keep each
 * other's writes, and a write after a destroy finds no session and writes nothing. Across
 * nodes a four-function backend offers no atomic step, so two nodes committing to the same
 * session at the same instant can lose a key from the list; use `RedisStore` or
 * `PostgresStore` for that. Expiry is enforced here on every read; the backend deletes
 * abandoned sessions only if it implements `expire`. No `adopt`: across nodes the four
 * functions cannot create-if-absent, so a new visitor's first write under the id it was
 * issued gets a fresh id (each of several parallel first writes its own session).
 */
export class NovaStore extends SessionStore implements OnModuleInit, OnApplicationShutdown {
  private readonly lock = new KeyLock();

  constructor(protected readonly backend: NovaStoreBackend) {
    super();
    for (const name of ['getValue', 'setValue', 'deleteValue'] as const) {
      if (typeof backend?.[name] !== 'function') {
        throw new Error(`A Nova-style session store must implement ${name}(id, key...)`);
      }
    }
  }

  async onModuleInit(): Promise<void> {
    await this.backend.start?.();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.backend.stop?.();
  }

  async get(key: string): Promise<StoredSession | undefined> {
    const meta = await this.liveMeta(key, Date.now());
    if (meta === undefined) return undefined;
    const values = await Promise.all(meta.keys.map((name) => this.backend.getValue(key, valueField(name))));
    const data = new Map<string, unknown>();
    meta.keys.forEach((name, i) => {
      if (values[i] !== undefined) data.set(name, copyJson(values[i]));
    });
    return { data, createdAt: meta.createdAt, expiresAt: meta.expiresAt };
  }

  write(key: string, change: SessionWrite): Promise<boolean> {
    return this.lock.run(key, async () => {
      const now = Date.now();
      let meta: NovaMeta;
      let keys: Set<string>;
      if (change.mode === 'create') {
        meta = { createdAt: change.createdAt, expiresAt: 0, keys: [] };
        keys = new Set();
      } else {
        const live = await this.liveMeta(key, now);
        if (live === undefined) return false;
        meta = live;
        keys = new Set(live.keys);
        const removed = change.clear ? [...keys] : [...change.delete];
        await Promise.all(removed.map((name) => this.backend.deleteValue(key, valueField(name))));
        for (const name of removed) keys.delete(name);
      }
      await Promise.all([...change.set].map(([name, value]) => this.backend.setValue(key, valueField(name), copyJson(value))));
      for (const name of change.set.keys()) keys.add(name);
      // The bookkeeping goes last: a key it lists is always already written.
      await this.backend.setValue(key, META_FIELD, {
        createdAt: meta.createdAt,
        expiresAt: now + change.ttl,
        keys: [...keys],
      } satisfies NovaMeta);
      await this.backend.expire?.(key, change.ttl);
      return true;
    });
  }

  touch(key: string, ttl: number): Promise<boolean> {
    return this.lock.run(key, async () => {
      const now = Date.now();
      const meta = await this.liveMeta(key, now);
      if (meta === undefined) return false;
      await this.backend.setValue(key, META_FIELD, { ...meta, expiresAt: now + ttl } satisfies NovaMeta);
      await this.backend.expire?.(key, ttl);
      return true;
    });
  }

  destroy(key: string): Promise<void> {
    return this.lock.run(key, async () => {
      await this.backend.deleteValue(key);
    });
  }

  /**
   * The atomic per-key update (`session.update`), atomic within this process only: the
   * comparison and the write run under the same per-session queue as every other change here,
   * but a four-function backend has no atomic step, so two nodes updating one key at the same
   * instant can both apply and one update is lost. Use `RedisStore` or `PostgresStore` for
   * updates that must hold across nodes.
   */
  override compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    return this.lock.run(key, async (): Promise<CompareAndSetResult> => {
      const now = Date.now();
      const meta = await this.liveMeta(key, now);
      if (meta === undefined) return { outcome: 'gone' };
      const listed = meta.keys.includes(field);
      const stored = listed ? await this.backend.getValue(key, valueField(field)) : undefined;
      const current = stored === undefined ? undefined : copyJson(stored);
      if (!jsonEqual(current, expected)) return { outcome: 'changed', current };
      await this.backend.setValue(key, valueField(field), copyJson(next));
      await this.backend.setValue(key, META_FIELD, {
        createdAt: meta.createdAt,
        expiresAt: now + ttl,
        keys: listed ? meta.keys : [...meta.keys, field],
      } satisfies NovaMeta);
      await this.backend.expire?.(key, ttl);
      return { outcome: 'applied' };
    });
  }

  /** The bookkeeping of a live session; an expired one is deleted from the backend on sight. */
  private async liveMeta(key: string, now: number): Promise<NovaMeta | undefined> {
    const meta = await this.backend.getValue(key, META_FIELD);
    if (!isMeta(meta)) return undefined;
    if (meta.expiresAt <= now) {
      await this.backend.deleteValue(key);
      return undefined;
    }
    return { createdAt: meta.createdAt, expiresAt: meta.expiresAt, keys: [...meta.keys] };
  }
}

/**
 * Wraps a store written to Nova's four-function behaviour (plus the optional `expire`, which
 * lets the backend delete abandoned sessions) into a `SessionStore`.
 */
export function fromNovaStore(backend: NovaStoreBackend): NovaStore {
  return new NovaStore(backend);
}
