import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { SESSION_LOGGER_CONTEXT } from '../../session.constants.js';
import { LruList, type LruNode } from '../lru-list.js';
import { jsonEqual } from '../json-equal.js';
import {
  boundUserOf,
  type CompareAndSetResult,
  SessionStore,
  type SessionWrite,
  type StoredSession,
  type UserSessionRecord,
} from '../session.store.js';

/** Options of the in-memory store. */
export interface MemoryStoreOptions {
  /**
   * Most sessions held at once. When full, creating a session evicts one: sessions seen on
   * one request only go first, then the least recently used (a warning is logged once).
   * Default: `100000`.
   */
  maxEntries?: number;
  /**
   * Most session data held at once, counted as the UTF-8 bytes of each session's JSON text (the
   * id and bookkeeping, about 250 bytes of heap per session, are not counted). Evicts as
   * `maxEntries` does. A single session larger than this is kept, alone. Default: `134217728`
   * (128 MiB).
   */
  maxBytes?: number;
  /** Seconds between sweeps that remove expired sessions. Default: `60`. */
  sweepInterval?: number;
}

interface MemoryEntry extends LruNode {
  /** The store key, for eviction, which finds the entry by activity rather than by key. */
  readonly key: string;
  /** The session's values as one JSON object text: copied in on write, out on read, never shared. */
  data: string;
  /** UTF-8 bytes of `data`: what `maxBytes` counts and what `get` reports as `jsonBytes`. */
  bytes: number;
  createdAt: number;
  expiresAt: number;
  /** In the protected segment: read again after the request that created it. */
  returned: boolean;
  /** The user whose index holds this entry (`SessionWrite.user`). */
  userId?: string;
}

/** Default `maxBytes`: 128 MiB of session JSON. */
const DEFAULT_MAX_BYTES = 128 * 1024 * 1024;

/**
 * Share of each cap that sessions which came back may fill. The rest is kept for new sessions,
 * so a visitor gets a second request before eviction can reach its session, however many new
 * sessions arrive meanwhile.
 */
const PROTECTED_SHARE = 0.8;

/**
 * A sweep works in slices of at most this many entries or this many milliseconds, whichever
 * comes first, so that a large store never stalls the event loop.
 */
const SWEEP_SLICE = 5_000;
const SWEEP_SLICE_MS = 4;

/**
 * Sessions are spread over this many maps. A JavaScript Map rehashes its whole table when it
 * shrinks, which for a single map of a million entries stalls the event loop for tens of
 * milliseconds while the sweep empties it; a map a sixty-fourth of the size rehashes in well
 * under a millisecond.
 */
const SHARDS = 64;

function shardIndex(key: string): number {
  return (key.charCodeAt(0) * 31 + key.charCodeAt(key.length - 1)) & (SHARDS - 1);
}

/** A segment's least recently used entry other than `spared`. */
function leastRecentlyUsed(segment: LruList<MemoryEntry>, spared: MemoryEntry): MemoryEntry | undefined {
  const first = segment.first();
  return first === spared ? (first.lruNext as MemoryEntry | undefined) : first;
}

function parseData(json: string): Map<string, unknown> {
  // JSON.parse defines properties, so a key named __proto__ stays plain data.
  return new Map(Object.entries(JSON.parse(json) as Record<string, unknown>));
}

function stringifyData(data: ReadonlyMap<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(data));
}

/** A destroy mark: `adopt` refuses its key until `until`; `at` is when it was set. */
interface DestroyMark {
  until: number;
  at: number;
}

/**
 * The default store: sessions in this process's memory. Expired sessions are removed on read
 * and by one background sweep (an `unref()`'d timer, cleared at application shutdown) that
 * works in slices. Caps on entries and on bytes bound memory with a segmented LRU: a new
 * session starts on probation and moves to the protected segment when a later request reads
 * it, so a flood of one-request sessions (cookieless clients, bots) evicts its own kind
 * before anyone who came back. Sessions do not survive a restart and are not shared between
 * processes: use `RedisStore` or `PostgresStore` for more than one node. Destroy marks (see
 * `SessionStore.destroy`) are kept beside the sessions, at most `maxEntries` of them.
 */
export class MemoryStore extends SessionStore implements OnApplicationShutdown {
  private readonly shards: Array<Map<string, MemoryEntry>> = Array.from({ length: SHARDS }, () => new Map());
  /** Sessions not read since the request that created them (or demoted), least recently used first. */
  private readonly probation = new LruList<MemoryEntry>();
  /** Sessions read on a later request, least recently used first. */
  private readonly protectedSegment = new LruList<MemoryEntry>();
  private count = 0;
  /** UTF-8 bytes of session JSON held: the sum of every entry's `bytes`. */
  private dataBytes = 0;
  private protectedCount = 0;
  private protectedBytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxProtectedEntries: number;
  private readonly maxProtectedBytes: number;
  private readonly sweepIntervalMs: number;
  private readonly logger = new Logger(SESSION_LOGGER_CONTEXT);
  private timer: NodeJS.Timeout | undefined;
  /** The pass in progress, which a concurrent `sweep()` call joins. */
  private sweepPass: Promise<void> | undefined;
  private warnedFull = false;
  private closed = false;
  /** Per-user index: the keys of each user's sessions. Entries leave it when they leave the store. */
  private readonly users = new Map<string, Set<string>>();
  /**
   * Destroy marks (see `SessionStore.destroy`): key -> epoch ms until which `adopt` refuses it.
   * Insertion order is age order; at most `maxEntries` are kept (the oldest go first, and
   * the sweep drops run-out ones, in its slices: 100,000 marks in one go took 16 ms), about
   * 150 bytes of heap each, outside `maxBytes`.
   */
  private readonly marks = new Map<string, DestroyMark>();
  /**
   * When the newest mark the cap dropped was set. An id issued before it may have lost its mark,
   * so such an id is not adopted into a new record (its first write gets a fresh id instead).
   */
  private marksDroppedUpTo = 0;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    const { maxEntries = 100_000, maxBytes = DEFAULT_MAX_BYTES, sweepInterval = 60 } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new Error(`MemoryStore maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new Error(`MemoryStore maxBytes must be a positive integer (bytes of session JSON), got ${String(maxBytes)}`);
    }
    if (typeof sweepInterval !== 'number' || !Number.isFinite(sweepInterval) || sweepInterval <= 0) {
      throw new Error(`MemoryStore sweepInterval must be a positive number of seconds, got ${String(sweepInterval)}`);
    }
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.maxProtectedEntries = Math.floor(maxEntries * PROTECTED_SHARE);
    this.maxProtectedBytes = Math.floor(maxBytes * PROTECTED_SHARE);
    this.sweepIntervalMs = sweepInterval * 1000;
  }

  /** Number of sessions held, expired ones not yet swept included. */
  get size(): number {
    return this.count;
  }

  /** UTF-8 bytes of session JSON held (what `maxBytes` counts), expired sessions not yet swept included. */
  get bytes(): number {
    return this.dataBytes;
  }

  /**
   * A read is a use: it moves the session to the back of the eviction order (no write, no
   * expiry change). The handle reads a session at most once per request, and never in the
   * request that created it, so a read is the session coming back: it leaves probation.
   */
  async get(key: string): Promise<StoredSession | undefined> {
    const entry = this.live(key, Date.now());
    if (entry === undefined) return undefined;
    if (entry.returned) this.protectedSegment.touch(entry);
    else this.promote(entry);
    return { data: parseData(entry.data), createdAt: entry.createdAt, expiresAt: entry.expiresAt, jsonBytes: entry.bytes };
  }

  async write(key: string, change: SessionWrite): Promise<boolean> {
    const now = Date.now();
    if (change.mode === 'create') {
      const data = stringifyData(change.set);
      const entry: MemoryEntry = {
        key,
        data,
        bytes: Buffer.byteLength(data),
        createdAt: change.createdAt,
        expiresAt: now + change.ttl,
        returned: false,
        lruPrev: undefined,
        lruNext: undefined,
      };
      this.insert(entry);
      if (change.user !== undefined) this.index(entry, change.user.userId);
      return true;
    }
    const entry = this.live(key, now);
    if (entry === undefined) return false;
    const data = change.clear ? new Map<string, unknown>() : parseData(entry.data);
    for (const name of change.delete) data.delete(name);
    for (const [name, value] of change.set) data.set(name, value);
    if (change.user !== undefined) this.index(entry, change.user.userId);
    this.rewrite(entry, data, now + change.ttl);
    return true;
  }

  async touch(key: string, ttl: number): Promise<boolean> {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry === undefined) return false;
    entry.expiresAt = now + ttl;
    this.segmentOf(entry).touch(entry);
    return true;
  }

  async destroy(key: string, markTtl?: number): Promise<boolean> {
    const now = Date.now();
    const live = this.live(key, now) !== undefined;
    this.remove(key);
    if (markTtl !== undefined && markTtl > 0) this.mark(key, now + markTtl);
    return live;
  }

  /**
   * The first write of an issued id (see `SessionStore.adopt`): one synchronous step, so
   * parallel first writes and a destroy cannot interleave with it.
   */
  override async adopt(key: string, change: SessionWrite): Promise<boolean> {
    const now = Date.now();
    const mark = this.marks.get(key);
    if (mark !== undefined) {
      if (mark.until > now) return false;
      this.marks.delete(key);
    }
    const entry = this.live(key, now);
    if (entry === undefined) return change.createdAt > this.marksDroppedUpTo && this.write(key, change);
    return this.write(key, { ...change, mode: 'update', delete: [], clear: false });
  }

  /**
   * The atomic per-key update (`session.update`): one synchronous step, so no other request
   * can come between the comparison and the write.
   */
  override async compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry === undefined) return { outcome: 'gone' };
    const data = parseData(entry.data);
    const current = data.get(field);
    if (!jsonEqual(current, expected)) return { outcome: 'changed', current };
    data.set(field, next);
    this.rewrite(entry, data, now + ttl);
    return { outcome: 'applied' };
  }

  /**
   * The user's live sessions. The index holds exactly the entries the store holds: an entry
   * leaves it when it is destroyed, swept, evicted or found expired. One map lookup per session.
   */
  override async listByUser(userId: string): Promise<UserSessionRecord[]> {
    const keys = this.users.get(userId);
    if (keys === undefined) return [];
    const now = Date.now();
    const records: UserSessionRecord[] = [];
    // A copy: live() removes expired entries from the set while we walk it.
    for (const key of [...keys]) {
      const entry = this.live(key, now);
      if (entry === undefined) continue;
      const data = parseData(entry.data);
      // Bound to someone else since (a later bindUser): that user's index has it now.
      if (boundUserOf(data) !== userId) continue;
      records.push({ key, session: { data, createdAt: entry.createdAt, expiresAt: entry.expiresAt } });
    }
    return records;
  }

  /** Stops the sweep timer and drops every session; a later write starts afresh. */
  onApplicationShutdown(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const shard of this.shards) shard.clear();
    this.probation.clear();
    this.protectedSegment.clear();
    this.users.clear();
    this.marks.clear();
    this.count = 0;
    this.dataBytes = 0;
    this.protectedCount = 0;
    this.protectedBytes = 0;
  }

  /** Removes every expired session now, in slices; resolves when the pass is done. */
  sweep(): Promise<void> {
    if (this.sweepPass !== undefined) return this.sweepPass;
    // The shards one after another, then the destroy marks (as if a last shard), in the same slices.
    let shardIndexNow = 0;
    let cursor: Iterator<[string, MemoryEntry | DestroyMark]> = this.shards[0].entries();
    let done!: () => void;
    const pass = new Promise<void>((resolve) => (done = resolve));
    const finish = (): void => {
      this.sweepPass = undefined;
      done();
    };
    const slice = (): void => {
      const now = Date.now();
      const started = performance.now();
      for (let seen = 0; seen < SWEEP_SLICE; seen++) {
        if (this.closed) return finish();
        if ((seen & 255) === 255 && performance.now() - started > SWEEP_SLICE_MS) break;
        const next = cursor.next();
        if (next.done) {
          if (++shardIndexNow > SHARDS) return finish();
          cursor = shardIndexNow === SHARDS ? this.marks.entries() : this.shards[shardIndexNow].entries();
          continue;
        }
        const [key, entry] = next.value;
        if ('until' in entry) {
          if (entry.until <= now) this.marks.delete(key);
        } else if (entry.expiresAt <= now && this.shards[shardIndexNow].delete(key)) {
          this.forget(entry);
        }
      }
      setImmediate(slice);
    };
    // Set before the first slice runs: a pass that ends within it must clear it again.
    this.sweepPass = pass;
    slice();
    return pass;
  }

  /** Keeps `key` from being adopted until `until`, within the cap on marks. */
  private mark(key: string, until: number): void {
    // Re-inserted, so the map stays in the order the marks were set.
    this.marks.delete(key);
    this.marks.set(key, { until, at: Date.now() });
    while (this.marks.size > this.maxEntries) {
      const [oldest, { at }] = this.marks.entries().next().value as [string, DestroyMark];
      this.marksDroppedUpTo = Math.max(this.marksDroppedUpTo, at);
      this.marks.delete(oldest);
    }
    this.startSweeping();
  }

  private live(key: string, now: number): MemoryEntry | undefined {
    const entry = this.shards[shardIndex(key)].get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(key);
      return undefined;
    }
    return entry;
  }

  private remove(key: string): void {
    const shard = this.shards[shardIndex(key)];
    const entry = shard.get(key);
    if (entry === undefined) return;
    shard.delete(key);
    this.forget(entry);
  }

  /** Bookkeeping for an entry just deleted from its shard. */
  private forget(entry: MemoryEntry): void {
    this.segmentOf(entry).remove(entry);
    this.count--;
    this.dataBytes -= entry.bytes;
    if (entry.returned) {
      this.protectedCount--;
      this.protectedBytes -= entry.bytes;
    }
    if (entry.userId !== undefined) this.unindex(entry);
  }

  /** Files the entry under `userId` (and out of any other user's index). */
  private index(entry: MemoryEntry, userId: string): void {
    if (entry.userId === userId) return;
    if (entry.userId !== undefined) this.unindex(entry);
    entry.userId = userId;
    let keys = this.users.get(userId);
    if (keys === undefined) {
      keys = new Set();
      this.users.set(userId, keys);
    }
    keys.add(entry.key);
  }

  private unindex(entry: MemoryEntry): void {
    const userId = entry.userId as string;
    const keys = this.users.get(userId);
    keys?.delete(entry.key);
    if (keys !== undefined && keys.size === 0) this.users.delete(userId);
    entry.userId = undefined;
  }

  private segmentOf(entry: MemoryEntry): LruList<MemoryEntry> {
    return entry.returned ? this.protectedSegment : this.probation;
  }

  /** An update of a live session: its new data and expiry, as its most recent use. */
  private rewrite(entry: MemoryEntry, data: Map<string, unknown>, expiresAt: number): void {
    this.resize(entry, stringifyData(data));
    entry.expiresAt = expiresAt;
    this.segmentOf(entry).touch(entry);
    // A write that grew the session may take the store over a byte cap.
    if (entry.returned) this.demoteOverflow();
    this.evictOverflow(entry);
  }

  /** Replaces an entry's JSON text, keeping the byte counts in step. */
  private resize(entry: MemoryEntry, data: string): void {
    const bytes = Buffer.byteLength(data);
    const delta = bytes - entry.bytes;
    entry.data = data;
    entry.bytes = bytes;
    this.dataBytes += delta;
    if (entry.returned) this.protectedBytes += delta;
  }

  /** Adds a session (replacing any under its key) on probation, as its most recently used. */
  private insert(entry: MemoryEntry): void {
    this.remove(entry.key);
    this.shards[shardIndex(entry.key)].set(entry.key, entry);
    this.probation.push(entry);
    this.count++;
    this.dataBytes += entry.bytes;
    this.evictOverflow(entry);
    this.startSweeping();
  }

  /** Moves a session that came back from probation to the protected segment. */
  private promote(entry: MemoryEntry): void {
    this.probation.remove(entry);
    entry.returned = true;
    this.protectedSegment.push(entry);
    this.protectedCount++;
    this.protectedBytes += entry.bytes;
    this.demoteOverflow();
  }

  /**
   * Keeps the protected segment within its share: its least recently used sessions go back to
   * probation, as probation's most recently used, and get one more chance to come back.
   */
  private demoteOverflow(): void {
    while (this.protectedCount > this.maxProtectedEntries || this.protectedBytes > this.maxProtectedBytes) {
      const oldest = this.protectedSegment.first();
      if (oldest === undefined) return;
      this.protectedSegment.remove(oldest);
      oldest.returned = false;
      this.protectedCount--;
      this.protectedBytes -= oldest.bytes;
      this.probation.push(oldest);
    }
  }

  /**
   * Evicts until both caps hold: probation's least recently used first, the protected
   * segment's only when probation is empty. `spared`, the session just written, is never the
   * one evicted, so a write that was acknowledged is held.
   */
  private evictOverflow(spared: MemoryEntry): void {
    while (this.count > this.maxEntries || this.dataBytes > this.maxBytes) {
      const victim = this.evictionCandidate(spared);
      if (victim === undefined) return;
      this.warnFull();
      this.remove(victim.key);
    }
  }

  private evictionCandidate(spared: MemoryEntry): MemoryEntry | undefined {
    return leastRecentlyUsed(this.probation, spared) ?? leastRecentlyUsed(this.protectedSegment, spared);
  }

  private warnFull(): void {
    if (this.warnedFull) return;
    this.warnedFull = true;
    const limit = this.count > this.maxEntries ? `${this.maxEntries} sessions` : `${this.maxBytes} bytes of session data`;
    const option = this.count > this.maxEntries ? 'maxEntries' : 'maxBytes';
    this.logger.warn(
      `MemoryStore is full (${limit}): evicting sessions seen on one request first, then the least recently used. ` +
        `Raise ${option} or use a shared store.`,
    );
  }

  private startSweeping(): void {
    if (this.timer !== undefined) return;
    this.closed = false;
    this.timer = setInterval(() => void this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
  }
}
