import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { EventEmitter } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import { SESSION_LOGGER_CONTEXT } from '../../session.constants.js';
import { parseStoredValue } from '../../session/session-value.js';
import { LruList, type LruNode } from '../lru-list.js';
import type { SessionWrite, StoredSession } from '../session.store.js';

/** Options of `RedisStore`'s per-process near-cache (`localCache`). */
export interface RedisLocalCacheOptions {
  /** Most sessions kept in this process; the least recently used one goes first. Default: `10000`. */
  maxEntries?: number;
  /**
   * Longest time in seconds an entry is served from memory before Redis is asked again, even
   * when no invalidation came. A safety net for changes made behind the store's back (a manual
   * `DEL`, `FLUSHDB`); the store's own writes on any node invalidate at once. Default: `60`.
   */
  ttl?: number;
  /**
   * A connection the store subscribes on for invalidations. The store never closes it; it
   * unsubscribes at shutdown. Standalone Redis only. Default: the store opens its own with
   * `client.duplicate()` (on a Cluster: one per master) and closes it at application shutdown.
   */
  subscriber?: Redis;
  /**
   * Seconds between PINGs on the subscriber connection. A PING still unanswered when the next
   * one is due stops the cache (a silently dead link can no longer hide missed invalidations)
   * until the answer arrives. Default: `1`.
   */
  heartbeat?: number;
}

/** What the near-cache is doing, for health checks and metrics. */
export interface RedisLocalCacheStatus {
  /** Whether reads are served from memory now (false while the subscriber is not subscribed). */
  serving: boolean;
  /** Sessions held. */
  entries: number;
  /** Reads answered from memory since start. */
  hits: number;
  /** Reads that went to Redis since start (cache not serving included). */
  misses: number;
}

/** A session as the cache holds it: values as JSON text, copied in and parsed out. */
interface CacheEntry extends LruNode {
  readonly key: string;
  values: Map<string, string>;
  createdAt: number;
  expiresAt: number;
  /** Serve from memory until this time (ms since the epoch): the `ttl` safety net. */
  cachedUntil: number;
}

/**
 * One Redis operation on a key in flight. Its answer may be cached only if nothing invalidated
 * the key meanwhile (`dirty`) and the subscription did not lapse (`epoch`): otherwise an answer
 * read before another node's write could be cached after that write's invalidation arrived.
 */
export interface CacheTicket {
  readonly key: string;
  readonly epoch: number;
  readonly startedAt: number;
  dirty: boolean;
}

/** An invalidation to publish, and the wait for it to come back. */
export interface Publication {
  readonly message: string;
  readonly echoed: Promise<void>;
  cancel(): void;
}

/** One subscriber connection and where it stands. */
interface Link {
  readonly connection: Redis;
  readonly owned: boolean;
  /** Bumped whenever the connection goes down; answers from an older generation are ignored. */
  generation: number;
  subscribed: boolean;
  pinging: boolean;
  /** A PING went unanswered for a whole heartbeat: not trusted until it answers. */
  late: boolean;
  detach(): void;
}

const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_TTL_SECONDS = 60;
const DEFAULT_HEARTBEAT_SECONDS = 1;

function positiveSeconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`RedisStore localCache.${name} must be a positive number of seconds, got ${String(value)}`);
  }
  return value;
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** Adds the listeners and returns the function that removes exactly those again. */
function listen(emitter: Pick<EventEmitter, 'on' | 'off'>, handlers: Record<string, (...args: never[]) => void>): () => void {
  const entries = Object.entries(handlers) as Array<[string, (...args: unknown[]) => void]>;
  for (const [event, handler] of entries) emitter.on(event, handler);
  return () => {
    for (const [event, handler] of entries) emitter.off(event, handler);
  };
}

/**
 * The near-cache of `RedisStore`: recently read sessions in process memory, dropped as soon as
 * any node writes, touches or destroys them (each of those publishes the session key from the
 * same Lua script that changes it, so the message leaves Redis before the write is acknowledged).
 * It serves only while every subscriber connection is subscribed and answering; when one is not,
 * it empties itself and every read goes to Redis until the subscription is back. Internal.
 */
export class RedisNearCache {
  /** Channel the invalidations travel on: one per key prefix, so stores sharing data share it. */
  readonly channel: string;
  /** Tells this process's own messages apart (its entries are already up to date). */
  readonly nodeId = randomBytes(8).toString('hex');

  private readonly entries = new Map<string, CacheEntry>();
  /** The same entries, least recently used first. */
  private readonly recency = new LruList<CacheEntry>();
  private readonly pending = new Map<string, Set<CacheTicket>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;
  private readonly logger = new Logger(SESSION_LOGGER_CONTEXT);
  /** Writes waiting for their invalidation to come back, by sequence number. */
  private readonly echoes = new Map<number, () => void>();
  private published = 0;
  private links: Link[] = [];
  private serving = false;
  private hasServed = false;
  private epoch = 0;
  private hits = 0;
  private misses = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private stopWatchingCluster: (() => void) | undefined;

  constructor(
    private readonly client: Redis | Cluster,
    prefix: string,
    options: RedisLocalCacheOptions,
  ) {
    const { maxEntries = DEFAULT_MAX_ENTRIES, subscriber } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new Error(`RedisStore localCache.maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    this.maxEntries = maxEntries;
    this.ttlMs = positiveSeconds('ttl', options.ttl, DEFAULT_TTL_SECONDS) * 1000;
    this.heartbeatMs = positiveSeconds('heartbeat', options.heartbeat, DEFAULT_HEARTBEAT_SECONDS) * 1000;
    if (subscriber !== undefined) {
      if (subscriber === null || typeof (subscriber as Redis).subscribe !== 'function' || isCluster(subscriber)) {
        throw new Error('RedisStore localCache.subscriber must be an ioredis Redis connection (not a Cluster)');
      }
      if (isCluster(client)) {
        throw new Error(
          'RedisStore localCache.subscriber cannot be used with a Cluster client: the store subscribes on every master itself',
        );
      }
    }
    this.channel = `${prefix}invalidate`;
    this.start(subscriber);
  }

  status(): RedisLocalCacheStatus {
    return { serving: this.serving, entries: this.entries.size, hits: this.hits, misses: this.misses };
  }

  /** Whether a read may look in memory at all right now. */
  get isServing(): boolean {
    return this.serving;
  }

  /**
   * The payload that invalidates `key` on every other node, and its echo: resolved once this
   * node's own subscriber has received it. Redis hands the message to every subscriber in the
   * same pass, so when the echo is back the other nodes have it too (or are about to read it
   * off the socket): the store acknowledges a change only then, so a client that goes on to
   * another node finds the invalidation already there. Resolved at once when the cache is not
   * serving, and whenever the subscription lapses (nothing to wait for then).
   */
  publication(key: string): Publication {
    const seq = ++this.published;
    const message = `${this.nodeId}:${seq}:${key}`;
    if (!this.serving) return { message, echoed: Promise.resolve(), cancel: () => undefined };
    const echoed = new Promise<void>((resolve) => this.echoes.set(seq, resolve));
    return { message, echoed, cancel: () => this.settleEcho(seq) };
  }

  /** A live cached copy of the session, or nothing (a miss is counted by `begin`). */
  read(key: string, now = Date.now()): StoredSession | undefined {
    if (!this.serving) return undefined;
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now || entry.cachedUntil <= now) {
      this.drop(key);
      return undefined;
    }
    this.recency.touch(entry);
    this.hits++;
    const data = new Map<string, unknown>();
    for (const [name, json] of entry.values) data.set(name, parseStoredValue(json));
    return { data, createdAt: entry.createdAt, expiresAt: entry.expiresAt };
  }

  /** Registers an operation on `key` about to go to Redis. */
  begin(key: string, isRead: boolean): CacheTicket {
    if (isRead) this.misses++;
    const ticket: CacheTicket = { key, epoch: this.epoch, startedAt: Date.now(), dirty: !this.serving };
    let tickets = this.pending.get(key);
    if (tickets === undefined) {
      tickets = new Set();
      this.pending.set(key, tickets);
    }
    tickets.add(ticket);
    return ticket;
  }

  /** A load answered: cache it unless something may have changed the session meanwhile. */
  loaded(ticket: CacheTicket, values: Map<string, string> | undefined, createdAt: number, remainingMs: number): void {
    const cacheable = this.settle(ticket);
    if (!cacheable || values === undefined) return;
    // Counted from before the request left: never later than Redis's own expiry.
    const expiresAt = remainingMs < 0 ? Number.MAX_SAFE_INTEGER : ticket.startedAt + remainingMs;
    this.put(ticket.key, values, createdAt, expiresAt);
  }

  /** This node committed `change`: keep its entry in step, or drop it when unsure. */
  wrote(ticket: CacheTicket, change: SessionWrite, applied: boolean): void {
    const cacheable = this.settle(ticket);
    this.invalidateOthers(ticket);
    const key = ticket.key;
    const expiresAt = ticket.startedAt + change.ttl;
    if (!cacheable || !applied || change.ttl <= 0) {
      this.drop(key);
      return;
    }
    if (change.mode === 'create') {
      const values = new Map<string, string>();
      for (const [name, value] of change.set) values.set(name, JSON.stringify(value));
      this.put(key, values, change.createdAt, expiresAt);
      return;
    }
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    if (change.clear) entry.values.clear();
    for (const name of change.delete) entry.values.delete(name);
    for (const [name, value] of change.set) entry.values.set(name, JSON.stringify(value));
    entry.expiresAt = expiresAt;
  }

  /** This node extended the session's expiry (or found it gone). */
  touched(ticket: CacheTicket, ttl: number, alive: boolean): void {
    const cacheable = this.settle(ticket);
    this.invalidateOthers(ticket);
    const entry = this.entries.get(ticket.key);
    if (entry === undefined) return;
    if (!cacheable || !alive) this.drop(ticket.key);
    else entry.expiresAt = ticket.startedAt + ttl;
  }

  /** This node destroyed the session, or an operation failed with an unknown outcome. */
  forget(ticket: CacheTicket): void {
    this.settle(ticket);
    this.invalidateOthers(ticket);
    this.drop(ticket.key);
  }

  /** Stops serving, drops every entry, and closes (or, when passed in, unsubscribes) the subscriber. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopWatchingCluster?.();
    this.stopWatchingCluster = undefined;
    this.update();
    this.clearEntries();
    await Promise.allSettled(this.links.splice(0).map((link) => this.release(link)));
  }

  private settle(ticket: CacheTicket): boolean {
    const tickets = this.pending.get(ticket.key);
    tickets?.delete(ticket);
    if (tickets !== undefined && tickets.size === 0) this.pending.delete(ticket.key);
    return this.serving && !ticket.dirty && ticket.epoch === this.epoch;
  }

  /** Answers still in flight for the key may predate this change: none of them is cached. */
  private invalidateOthers(ticket: CacheTicket): void {
    for (const other of this.pending.get(ticket.key) ?? []) other.dirty = true;
  }

  private settleEcho(seq: number): void {
    const resolve = this.echoes.get(seq);
    this.echoes.delete(seq);
    resolve?.();
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.channel) return;
    // nodeId:seq:key (the key is last: whatever it holds stays intact).
    const first = message.indexOf(':');
    const second = first < 0 ? -1 : message.indexOf(':', first + 1);
    if (second < 0) return;
    if (message.slice(0, first) === this.nodeId) {
      // Our own writes already updated or dropped the entry (and marked loads in flight).
      this.settleEcho(Number(message.slice(first + 1, second)));
      return;
    }
    const key = message.slice(second + 1);
    this.drop(key);
    for (const ticket of this.pending.get(key) ?? []) ticket.dirty = true;
  }

  /** Caches a session as the most recently used, making room by dropping the least recently used. */
  private put(key: string, values: Map<string, string>, createdAt: number, expiresAt: number): void {
    this.drop(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.recency.first();
      if (oldest === undefined) break;
      this.drop(oldest.key);
    }
    const entry: CacheEntry = {
      key,
      values,
      createdAt,
      expiresAt,
      cachedUntil: Date.now() + this.ttlMs,
      lruPrev: undefined,
      lruNext: undefined,
    };
    this.entries.set(key, entry);
    this.recency.push(entry);
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.recency.remove(entry);
  }

  private clearEntries(): void {
    this.entries.clear();
    this.recency.clear();
  }

  /** Serving only while every link is subscribed and answering; any lapse empties the cache. */
  private update(): void {
    const serving = !this.closed && this.links.length > 0 && this.links.every((link) => link.subscribed && !link.late);
    if (serving === this.serving) return;
    this.serving = serving;
    if (serving) {
      if (this.hasServed) this.logger.log('Session near-cache is subscribed again; serving from memory');
      this.hasServed = true;
      return;
    }
    // Whatever was cached or is being loaded may have missed an invalidation.
    this.clearEntries();
    this.epoch++;
    for (const seq of [...this.echoes.keys()]) this.settleEcho(seq);
    if (!this.closed) {
      this.logger.warn('Session near-cache stopped: its invalidation subscriber is not connected; reading from Redis');
    }
  }

  private start(subscriber: Redis | undefined): void {
    this.timer = setInterval(() => this.beat(), this.heartbeatMs);
    this.timer.unref();
    if (subscriber !== undefined) {
      this.links = [this.attach(subscriber, false)];
      return;
    }
    const client = this.client;
    if (!isCluster(client)) {
      this.links = [this.attach(this.ownConnection(client), true)];
      return;
    }
    this.watchCluster(client);
  }

  /**
   * A Cluster: one subscriber per master. PUBLISH reaches every node over the cluster bus, but
   * the master that ran the write delivers to its own subscribers in the same event-loop turn
   * as the write's reply, so being subscribed there keeps "invalidated before acknowledged".
   * The topology is re-read whenever the cluster client reports a node added or removed.
   * Why not sharded pub/sub: a script may SPUBLISH only to a shard channel in its own key's
   * slot, so it would take one channel per slot (16384 subscriptions per process) and a slot
   * migration would silently move invalidations away. PUBLISH's cost is the cluster-bus
   * broadcast of each change (one small message per session write), fine at session write rates.
   */
  private watchCluster(cluster: Cluster): void {
    let scheduled = false;
    const rebuild = (): void => {
      if (scheduled || this.closed) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (this.closed || cluster.status !== 'ready') return;
        const old = this.links;
        this.links = cluster.nodes('master').map((node) => this.attach(this.ownConnection(node), true));
        this.update();
        for (const link of old) void this.release(link);
      });
    };
    const onDown = (): void => {
      if (cluster.status === 'ready') return;
      for (const link of this.links) link.subscribed = false;
      this.update();
    };
    this.stopWatchingCluster = listen(cluster, {
      ready: rebuild,
      '+node': rebuild,
      '-node': rebuild,
      close: onDown,
      reconnecting: onDown,
    });
    if (cluster.status === 'ready') rebuild();
  }

  private ownConnection(source: Redis): Redis {
    // We subscribe ourselves on every 'ready': a stale automatic resubscribe would only race it.
    const connection = source.duplicate({ lazyConnect: false, autoResubscribe: false, enableOfflineQueue: true });
    connection.on('error', (error: Error) => this.logger.debug(`Session near-cache subscriber: ${error.message}`));
    return connection;
  }

  private attach(connection: Redis, owned: boolean): Link {
    const link: Link = {
      connection,
      owned,
      generation: 0,
      subscribed: false,
      pinging: false,
      late: false,
      detach: () => undefined,
    };
    const onReady = (): void => this.subscribe(link);
    const onDown = (): void => {
      link.generation++;
      link.subscribed = false;
      link.pinging = false;
      link.late = false;
      this.update();
    };
    const onMessage = (channel: string, message: string): void => this.onMessage(channel, message);
    link.detach = listen(connection, {
      ready: onReady,
      close: onDown,
      end: onDown,
      reconnecting: onDown,
      message: onMessage,
    });
    if (connection.status === 'ready') this.subscribe(link);
    return link;
  }

  private subscribe(link: Link): void {
    if (this.closed) return;
    const generation = link.generation;
    link.connection.subscribe(this.channel).then(
      () => {
        if (link.generation !== generation || link.connection.status !== 'ready') return;
        link.subscribed = true;
        this.update();
      },
      (error: unknown) => {
        this.logger.debug(`Session near-cache could not subscribe: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  }

  private beat(): void {
    for (const link of this.links) {
      if (!link.subscribed) continue;
      if (link.pinging) {
        if (!link.late) {
          link.late = true;
          this.update();
        }
        continue;
      }
      link.pinging = true;
      const generation = link.generation;
      link.connection.ping().then(
        () => {
          if (link.generation !== generation) return;
          // Every message published before this answer has been received: safe to serve again.
          link.pinging = false;
          if (link.late) {
            link.late = false;
            this.update();
          }
        },
        () => undefined,
      );
    }
  }

  private async release(link: Link): Promise<void> {
    link.detach();
    link.subscribed = false;
    if (link.owned) {
      link.connection.disconnect();
      return;
    }
    if (link.connection.status === 'ready') await link.connection.unsubscribe(this.channel).catch(() => undefined);
  }
}
