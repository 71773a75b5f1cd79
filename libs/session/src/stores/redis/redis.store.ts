import type { Cluster, Redis } from 'ioredis';
import type { OnApplicationShutdown } from '@nestjs/common';
import { parseStoredValue } from '../../session/session-value.js';
import {
  COMMIT,
  COMMIT_PUBLISH,
  COMPARE_AND_SET,
  COMPARE_AND_SET_PUBLISH,
  CREATED_FIELD,
  DATA_PREFIX,
  DESTROY,
  DESTROY_PUBLISH,
  LOAD,
  registerSessionScripts,
  runSessionScript,
  type ScriptedClient,
  type SessionScript,
  TOUCH,
  TOUCH_PUBLISH,
} from './redis.scripts.js';
import { SessionStoreTimeoutError, withDeadline } from '../../persistence/store-deadline.js';
import { type CacheTicket, RedisNearCache, type RedisLocalCacheOptions, type RedisLocalCacheStatus } from './redis-near-cache.js';
import {
  boundUserOf,
  type CompareAndSetResult,
  SessionStore,
  type SessionWrite,
  type StoredSession,
  type UserSessionRecord,
} from '../session.store.js';
import { RedisUserIndex } from './redis-user-index.js';

export type { RedisLocalCacheOptions, RedisLocalCacheStatus } from './redis-near-cache.js';

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /**
   * A connected ioredis client: a `Redis` or a `Cluster`. The store never closes it; you own its
   * life. Make commands fail fast while Redis is down (`enableOfflineQueue: false`, or a small
   * `maxRetriesPerRequest` / `commandTimeout`), or requests wait for the reconnect before they
   * get their 503.
   */
  client: Redis | Cluster;
  /** Prepended to every Redis key this store writes. Default: `'sess:'`. */
  prefix?: string;
  /**
   * Keep recently read sessions in this process's memory and serve reads from there with no
   * round trip. Every write, touch and destroy (on any node using the same prefix) publishes
   * an invalidation on the channel `<prefix>invalidate` from the same Lua script, so it leaves
   * Redis before the write's reply; a separate subscriber connection drops the entry. A change
   * is acknowledged once this node's own subscriber has received its invalidation, which Redis
   * sends to every subscriber in the same pass: the staleness window on other nodes is the
   * difference in delivery (typically well under a millisecond on one network). While the
   * subscriber is not subscribed (disconnected, reconnecting, silent), the cache is emptied
   * and every read goes to Redis. Changes made behind the store's back (a manual `DEL`) are not
   * seen until `localCache.ttl`. `true` takes the defaults. Default: off.
   */
  localCache?: RedisLocalCacheOptions | boolean;
}

/** A session as loaded, values still JSON text. */
interface LoadedSession {
  values: Map<string, string>;
  createdAt: number;
  /** PTTL in ms; negative when the key has no expiry. */
  remaining: number;
}

/** Lets I/O callbacks already due (an invalidation that reached this process) run first. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** An ioredis startup node (`6379`, `'host:port'`, a URL, or `{ host, port }`) as `host:port`, without credentials. */
function nodeAddress(node: unknown): string {
  if (typeof node === 'number') return `127.0.0.1:${node}`;
  if (typeof node === 'string') {
    if (!node.includes('://')) return node;
    try {
      const url = new URL(node);
      return `${url.hostname}:${url.port || 6379}`;
    } catch {
      return '(an unparsable URL)';
    }
  }
  const { host = '127.0.0.1', port = 6379 } = (node ?? {}) as { host?: string; port?: number };
  return `${host}:${port}`;
}

/** Where the client connects, for log lines: host and port (or socket path), never credentials. */
function clientAddress(client: Redis | Cluster): string {
  if (client.isCluster) {
    // ioredis keeps the seed nodes as given, in a member its types mark private.
    const nodes = (client as unknown as { startupNodes?: unknown[] }).startupNodes ?? [];
    return nodes.map(nodeAddress).join(', ');
  }
  const { host, port, path } = (client as Redis).options;
  return path ? path : `${host ?? '127.0.0.1'}:${port ?? 6379}`;
}

function asText(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/**
 * Sessions in Redis, one hash per session: each session key is a hash field holding its JSON
 * value, so requests that change different keys never overwrite each other. Loading is one
 * round trip and so is a commit (a Lua script: HSET/HDEL and PEXPIRE applied atomically,
 * refusing to recreate a session destroyed meanwhile). Every command names a single key, so
 * the store runs on Redis Cluster. Expiry is Redis's own TTL: no sweeping needed.
 *
 * With `localCache`, reads of recently used sessions are answered from process memory and
 * every change is broadcast as an invalidation (see `RedisStoreOptions.localCache`); the store
 * then owns a subscriber connection and closes it at application shutdown.
 *
 * ```ts
 * SessionModule.forRoot(new RedisStore({ client: new Redis(process.env.REDIS_URL) }))
 * ```
 */
export class RedisStore extends SessionStore implements OnApplicationShutdown {
  protected readonly client: Redis | Cluster;
  protected readonly prefix: string;
  /** The same client, typed with the store's script commands (registered in the constructor). */
  private readonly scripted: ScriptedClient;
  /** The near-cache, when `localCache` is on. */
  private readonly nearCache: RedisNearCache | undefined;
  /** Each user's sessions (`listByUser`), one sorted set per user. */
  private readonly userIndex: RedisUserIndex;

  constructor(options: RedisStoreOptions) {
    super();
    const { client, prefix = 'sess:', localCache = false } = options ?? ({} as RedisStoreOptions);
    if (client === undefined || client === null || typeof (client as Redis).defineCommand !== 'function') {
      throw new Error('RedisStore needs an ioredis client: new RedisStore({ client: new Redis(url) })');
    }
    if (typeof prefix !== 'string') {
      throw new Error(`RedisStore prefix must be a string, got ${typeof prefix}`);
    }
    if (typeof localCache !== 'boolean' && (typeof localCache !== 'object' || localCache === null)) {
      throw new Error(`RedisStore localCache must be true, false or an options object, got ${String(localCache)}`);
    }
    this.client = client;
    this.prefix = prefix;
    this.scripted = registerSessionScripts(client);
    this.userIndex = new RedisUserIndex(client, prefix);
    if (localCache !== false) {
      this.nearCache = new RedisNearCache(client, prefix, localCache === true ? {} : localCache);
    }
  }

  /** The near-cache's state (serving, entries, hits, misses), or `undefined` when it is off. */
  get localCacheStatus(): RedisLocalCacheStatus | undefined {
    return this.nearCache?.status();
  }

  async get(key: string): Promise<StoredSession | undefined> {
    const cache = this.nearCache;
    if (cache === undefined) return this.toSession(await this.load(key));
    if (cache.isServing) {
      // An invalidation that reached this process together with this request is applied first.
      await nextTurn();
      const hit = cache.read(key);
      if (hit !== undefined) return hit;
    }
    const ticket = cache.begin(key, true);
    let loaded: LoadedSession | undefined;
    try {
      loaded = await this.load(key);
    } catch (error) {
      cache.forget(ticket);
      throw error;
    }
    // Handed out and cached as separate copies: the cache keeps the JSON text, the caller parsed values.
    cache.loaded(ticket, loaded && new Map(loaded.values), loaded?.createdAt ?? 0, loaded?.remaining ?? 0);
    return this.toSession(loaded);
  }

  async write(key: string, change: SessionWrite): Promise<boolean> {
    return this.commitChange(key, change, change.mode === 'create' ? 'c' : 'u');
  }

  /**
   * The first write of an issued id: the commit script in its 'a' mode, one round trip like
   * any commit, so 20 parallel first writes land in one hash, and a destroy mark refuses it.
   */
  override async adopt(key: string, change: SessionWrite): Promise<boolean> {
    return this.commitChange(key, change, 'a');
  }

  private async commitChange(key: string, change: SessionWrite, mode: 'c' | 'u' | 'a'): Promise<boolean> {
    // Filed first: a session bound to a user is never out of the user's index (see RedisUserIndex).
    if (change.user !== undefined) await this.userIndex.add(change.user.userId, key, change.user.deadline);
    const cache = this.nearCache;
    if (cache === undefined) return this.commit(COMMIT, key, change, [], mode);
    // An adopted session may hold other requests' keys too: the cache learns it from a load.
    const cached: SessionWrite = mode === 'a' ? { ...change, mode: 'update' } : change;
    return this.broadcast(
      cache,
      key,
      (invalidation) => this.commit(COMMIT_PUBLISH, key, change, invalidation, mode),
      (ticket, applied) => cache.wrote(ticket, cached, applied),
    );
  }

  async touch(key: string, ttl: number): Promise<boolean> {
    const cache = this.nearCache;
    const ms = Math.max(1, Math.ceil(ttl));
    // Never creates a key, never extends a destroy mark.
    if (cache === undefined) return Number(await this.run(TOUCH, key, [String(ms)])) === 1;
    return this.broadcast(
      cache,
      key,
      async (invalidation) => Number(await this.run(TOUCH_PUBLISH, key, [...invalidation, String(ms)])) === 1,
      (ticket, alive) => cache.touched(ticket, ms, alive),
    );
  }

  async destroy(key: string, markTtl?: number): Promise<boolean> {
    const cache = this.nearCache;
    const mark = markTtl === undefined || markTtl <= 0 ? '0' : String(Math.ceil(markTtl));
    // Redis expires keys itself, so a key that is still there (and no mark) is a live session.
    if (cache === undefined) return Number(await this.run(DESTROY, key, [mark])) > 0;
    return this.broadcast(
      cache,
      key,
      async (invalidation) => Number(await this.run(DESTROY_PUBLISH, key, [...invalidation, mark])) > 0,
      (ticket) => cache.forget(ticket),
    );
  }

  // --- The atomic per-key update (session.update) ---------------------------------------

  /**
   * One script call: compares the field's JSON text with `expected`'s (the store wrote that
   * text itself, with `JSON.stringify`, and `expected` is a value it handed out, so equal
   * values have equal text) and sets it when they match. A refusal carries the current value,
   * so a retry needs no read. One key: runs on Cluster. With the near-cache, an applied
   * update publishes its invalidation from the same script and is acknowledged once this
   * node's subscriber has it, as a commit is; the comparison is always Redis's, never the
   * cache's.
   */
  override async compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    const args = [
      DATA_PREFIX + field,
      expected === undefined ? '0' : '1',
      expected === undefined ? '' : JSON.stringify(expected),
      JSON.stringify(next),
      String(Math.ceil(ttl)),
    ];
    const cache = this.nearCache;
    if (cache === undefined) return this.compareAndSetResult(await this.run(COMPARE_AND_SET, key, args));
    const ticket = cache.begin(key, false);
    const publication = cache.publication(key);
    let result: CompareAndSetResult;
    try {
      result = this.compareAndSetResult(await this.run(COMPARE_AND_SET_PUBLISH, key, [cache.channel, publication.message, ...args]));
    } catch (error) {
      publication.cancel();
      cache.forget(ticket);
      throw error;
    }
    if (result.outcome !== 'applied') {
      // Nothing was published; this node's copy was evidently behind (or the session is gone).
      publication.cancel();
      cache.forget(ticket);
      return result;
    }
    const change: SessionWrite = { mode: 'update', set: new Map([[field, next]]), delete: [], clear: false, createdAt: 0, ttl };
    cache.wrote(ticket, change, true);
    await publication.echoed;
    return result;
  }

  private compareAndSetResult(reply: unknown): CompareAndSetResult {
    const [code, current] = Array.isArray(reply) ? (reply as [unknown, unknown?]) : [reply];
    switch (Number(code)) {
      case 1:
        return { outcome: 'applied' };
      case 2:
        return { outcome: 'changed', current: current === undefined || current === null ? undefined : parseStoredValue(asText(current)) };
      default:
        return { outcome: 'gone' };
    }
  }

  // --- end of the atomic per-key update ---------------------------------------------------

  /**
   * The user's live sessions: one round trip for the index (trimmed of passed deadlines on the
   * way), then one per session, all in parallel (each in its own slot on a Cluster), straight
   * from Redis, never from the near-cache. Entries of sessions bound to someone else now are
   * dropped from the index (one more round trip, only when there are any). Entries of sessions
   * that are gone stay until their deadline trims them: a session being created is filed
   * before it is written, so "gone" may mean "not written yet", and dropping it could leave a
   * live session out of the index.
   */
  override async listByUser(userId: string): Promise<UserSessionRecord[]> {
    const keys = await this.userIndex.members(userId);
    const loaded = await Promise.all(keys.map(async (key) => ({ key, reply: await this.run(LOAD, key, []) })));
    const records: UserSessionRecord[] = [];
    const stale: string[] = [];
    for (const { key, reply } of loaded) {
      // A destroy mark: that session was destroyed (a logout, a revoke) and never comes back,
      // so its entry goes now. Nothing at all may be a login whose commit is on its way: kept.
      if (reply === 0) {
        stale.push(key);
        continue;
      }
      const session = this.toSession(this.parseLoaded(reply));
      if (session === undefined) continue;
      if (boundUserOf(session.data) === userId) records.push({ key, session });
      else stale.push(key);
    }
    await this.userIndex.remove(userId, stale);
    return records;
  }

  /**
   * Start-up check: waits for the client's connection (connecting it when it was created with
   * `lazyConnect`), then one PING, all within `timeoutMs`. Rejects with a sentence that names
   * the address the client connects to (never its credentials), the client's connection error,
   * and the fix.
   */
  override async check(timeoutMs: number): Promise<void> {
    const client = this.client;
    let connectionError: Error | undefined;
    let settle: ((error?: Error) => void) | undefined;
    // Listening only while the check runs, and never replacing the app's own listeners: the
    // connection error says more than a refused PING ("Stream isn't writeable ...").
    const onError = (error: Error): void => {
      connectionError = error;
      settle?.(error);
    };
    const onReady = (): void => settle?.();
    client.on('error', onError);
    client.on('ready', onReady);
    try {
      await withDeadline(async () => {
        if (client.status !== 'ready') {
          const connected = new Promise<void>((resolve, reject) => {
            settle = (error) => (error === undefined ? resolve() : reject(error));
          });
          if (client.status === 'wait') client.connect().catch(() => undefined);
          await connected;
        }
        await client.ping();
      }, timeoutMs);
    } catch (error) {
      throw new Error(this.unreachable(timeoutMs, error, connectionError), { cause: error });
    } finally {
      client.off('error', onError);
      client.off('ready', onReady);
    }
  }

  /** The start-up check's sentence for a client that did not answer. */
  private unreachable(timeoutMs: number, error: unknown, connectionError: Error | undefined): string {
    const cluster = this.client.isCluster;
    const where = `${cluster ? 'Redis Cluster' : 'Redis'} at ${clientAddress(this.client)}`;
    let failure = 'did not answer PING';
    if (error instanceof SessionStoreTimeoutError) failure += ` within ${timeoutMs} ms`;
    const cause = connectionError ?? (error instanceof SessionStoreTimeoutError ? undefined : error);
    if (cause !== undefined) failure += ` (${cause instanceof Error ? cause.message : String(cause)})`;
    const fix = cluster
      ? 'start the cluster nodes or give the ioredis Cluster reachable seed nodes'
      : 'start Redis there or point the ioredis client at the right host and port';
    return `RedisStore: ${where} ${failure}: ${fix}`;
  }

  /** Closes the near-cache's subscriber (or unsubscribes one that was passed in). Never the client. */
  async onApplicationShutdown(): Promise<void> {
    await this.nearCache?.close();
  }

  /**
   * Runs a change whose script also publishes the invalidation (`[channel, message]`), tells
   * the near-cache how it went, and resolves once this node's own subscriber has received the
   * invalidation, which Redis delivers to every node in the same pass.
   */
  private async broadcast<T>(
    cache: RedisNearCache,
    key: string,
    change: (invalidation: [channel: string, message: string]) => Promise<T>,
    settle: (ticket: CacheTicket, result: T) => void,
  ): Promise<T> {
    const ticket = cache.begin(key, false);
    const publication = cache.publication(key);
    let result: T;
    try {
      result = await change([cache.channel, publication.message]);
    } catch (error) {
      publication.cancel();
      cache.forget(ticket);
      throw error;
    }
    settle(ticket, result);
    await publication.echoed;
    return result;
  }

  /** The Redis key of a session's hash. */
  protected redisKey(key: string): string {
    return this.prefix + key;
  }

  /** One round trip: the session's fields as JSON text, its creation time and remaining TTL. */
  private async load(key: string): Promise<LoadedSession | undefined> {
    return this.parseLoaded(await this.run(LOAD, key, []));
  }

  /** The `LOAD` script's answer as a session, or `undefined` (no hash, a mark, not ours). */
  private parseLoaded(reply: unknown): LoadedSession | undefined {
    if (!Array.isArray(reply)) return undefined;
    const [ttl, flat] = reply as [unknown, unknown];
    if (!Array.isArray(flat)) return undefined;
    const values = new Map<string, string>();
    let createdAt: number | undefined;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = asText(flat[i]);
      const value = asText(flat[i + 1]);
      if (field.startsWith(DATA_PREFIX)) {
        values.set(field.slice(DATA_PREFIX.length), value);
      } else if (field === CREATED_FIELD) {
        createdAt = Number(value);
      }
    }
    // A hash without our creation stamp was not written by this store: not a session.
    if (createdAt === undefined || !Number.isFinite(createdAt)) return undefined;
    return { values, createdAt, remaining: Number(ttl) };
  }

  private toSession(loaded: LoadedSession | undefined): StoredSession | undefined {
    if (loaded === undefined) return undefined;
    const data = new Map<string, unknown>();
    for (const [name, json] of loaded.values) data.set(name, parseStoredValue(json));
    // PTTL -1 (no expiry) only happens if someone removed the TTL by hand; treat it as far away.
    const expiresAt = loaded.remaining < 0 ? Number.MAX_SAFE_INTEGER : Date.now() + loaded.remaining;
    return { data, createdAt: loaded.createdAt, expiresAt };
  }

  private async commit(code: SessionScript, key: string, change: SessionWrite, head: string[], mode: 'c' | 'u' | 'a'): Promise<boolean> {
    const args: string[] = [
      ...head,
      mode,
      String(Math.ceil(change.ttl)),
      String(change.createdAt),
      change.mode === 'update' && change.clear ? '1' : '0',
    ];
    const deleted = change.mode === 'update' ? change.delete : [];
    args.push(String(deleted.length));
    for (const name of deleted) args.push(DATA_PREFIX + name);
    for (const [name, value] of change.set) args.push(DATA_PREFIX + name, JSON.stringify(value));
    const reply = await this.run(code, key, args);
    return Number(reply) === 1;
  }

  /** One script call: one round trip (ioredis resends the source itself after a NOSCRIPT). */
  private run(code: SessionScript, key: string, args: string[]): Promise<unknown> {
    return runSessionScript(this.scripted, code, this.redisKey(key), args);
  }
}
