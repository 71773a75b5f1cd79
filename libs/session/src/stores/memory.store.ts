import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { SESSION_LOGGER_CONTEXT } from '../session.constants.js';
import { parseStoredValue } from '../session-value.js';
import { SessionStore, type SessionWrite, type StoredSession } from './session.store.js';

/** Options of the in-memory store. */
export interface MemoryStoreOptions {
  /**
   * Most sessions held at once. When full, creating a session evicts the least recently
   * active one (a warning is logged once). Default: `100000`.
   */
  maxEntries?: number;
  /** Seconds between sweeps that remove expired sessions. Default: `60`. */
  sweepInterval?: number;
}

interface MemoryEntry {
  /** Values as JSON text: copied in on write, copied out on read, never shared. */
  values: Map<string, string>;
  createdAt: number;
  expiresAt: number;
}

/** Entries looked at per slice of a sweep, so that a large store never stalls the event loop. */
const SWEEP_SLICE = 10_000;

/**
 * The default store: sessions in this process's memory. Expired sessions are removed on read
 * and by one background sweep (an `unref()`'d timer, cleared at application shutdown); a size
 * cap bounds memory. Sessions do not survive a restart and are not shared between processes:
 * use `RedisStore` or `PostgresStore` for more than one node.
 */
export class MemoryStore extends SessionStore implements OnApplicationShutdown {
  private readonly entries = new Map<string, MemoryEntry>();
  private readonly maxEntries: number;
  private readonly sweepIntervalMs: number;
  private readonly logger = new Logger(SESSION_LOGGER_CONTEXT);
  private timer: NodeJS.Timeout | undefined;
  /** The pass in progress, which a concurrent `sweep()` call joins. */
  private sweepPass: Promise<void> | undefined;
  private warnedFull = false;
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    const { maxEntries = 100_000, sweepInterval = 60 } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new Error(`MemoryStore maxEntries must be a positive integer, got ${String(maxEntries)}`);
    }
    if (typeof sweepInterval !== 'number' || !Number.isFinite(sweepInterval) || sweepInterval <= 0) {
      throw new Error(`MemoryStore sweepInterval must be a positive number of seconds, got ${String(sweepInterval)}`);
    }
    this.maxEntries = maxEntries;
    this.sweepIntervalMs = sweepInterval * 1000;
  }

  /** Number of sessions held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<StoredSession | undefined> {
    const entry = this.live(key, Date.now());
    if (entry === undefined) return undefined;
    const data = new Map<string, unknown>();
    for (const [name, json] of entry.values) data.set(name, parseStoredValue(json));
    return { data, createdAt: entry.createdAt, expiresAt: entry.expiresAt };
  }

  async write(key: string, change: SessionWrite): Promise<boolean> {
    const now = Date.now();
    let entry: MemoryEntry;
    if (change.mode === 'create') {
      entry = { values: new Map(), createdAt: change.createdAt, expiresAt: 0 };
    } else {
      const existing = this.live(key, now);
      if (existing === undefined) return false;
      entry = existing;
      if (change.clear) entry.values.clear();
      for (const name of change.delete) entry.values.delete(name);
    }
    for (const [name, value] of change.set) entry.values.set(name, JSON.stringify(value));
    entry.expiresAt = now + change.ttl;
    this.put(key, entry);
    return true;
  }

  async touch(key: string, ttl: number): Promise<boolean> {
    const now = Date.now();
    const entry = this.live(key, now);
    if (entry === undefined) return false;
    entry.expiresAt = now + ttl;
    this.put(key, entry);
    return true;
  }

  async destroy(key: string): Promise<boolean> {
    const live = this.live(key, Date.now()) !== undefined;
    this.entries.delete(key);
    return live;
  }

  /** Stops the sweep timer and drops every session; a later write starts afresh. */
  onApplicationShutdown(): void {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.entries.clear();
  }

  /** Removes every expired session now, in slices; resolves when the pass is done. */
  sweep(): Promise<void> {
    if (this.sweepPass !== undefined) return this.sweepPass;
    const cursor = this.entries.entries();
    let done!: () => void;
    const pass = new Promise<void>((resolve) => (done = resolve));
    const slice = (): void => {
      const now = Date.now();
      for (let seen = 0; seen < SWEEP_SLICE; seen++) {
        const next = cursor.next();
        if (next.done || this.closed) {
          this.sweepPass = undefined;
          done();
          return;
        }
        const [key, entry] = next.value;
        if (entry.expiresAt <= now) this.entries.delete(key);
      }
      setImmediate(slice);
    };
    // Set before the first slice runs: a pass that ends within it must clear it again.
    this.sweepPass = pass;
    slice();
    return pass;
  }

  private live(key: string, now: number): MemoryEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** (Re)inserts at the end of the map, whose order is then least recently active first. */
  private put(key: string, entry: MemoryEntry): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.evictOldest();
    this.entries.set(key, entry);
    this.startSweeping();
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    this.entries.delete(oldest.value);
    if (!this.warnedFull) {
      this.warnedFull = true;
      this.logger.warn(
        `MemoryStore is full (${this.maxEntries} sessions): evicting the least recently active. ` +
          'Raise maxEntries or use a shared store.',
      );
    }
  }

  private startSweeping(): void {
    if (this.timer !== undefined) return;
    this.closed = false;
    this.timer = setInterval(() => void this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
  }
}
