import type { Logger } from '@nestjs/common';
import { stringifySetCookie } from 'cookie';
import { generateSessionId, sessionStoreKey } from './cookie/session-id.js';
import type { Session, SessionData } from './session.interface.js';
import { SessionStoreUnavailableException } from './session.exceptions.js';
import type { ResolvedSessionOptions } from './session-options.js';
import { assertSessionKey, cloneSessionValue } from './session-value.js';
import type { SessionStore } from './stores/session.store.js';

/** What a handle needs from the module. Internal. */
export interface SessionHandleDeps {
  readonly store: SessionStore;
  readonly options: ResolvedSessionOptions;
  readonly logger: Logger;
}

/** Marks a staged removal. */
const REMOVED = Symbol('removed');
type Staged = unknown | typeof REMOVED;

/** Where the handle is in its request's life. */
type Outcome = 'open' | 'committed' | 'discarded' | 'failed';

/**
 * The per-request session: lazy load, per-key staging, one commit before the response leaves.
 * The guard, the interceptor, the decorator and `SessionService` all reach the same instance
 * (the first of them to ask creates it). Internal: users see the `Session` interface.
 */
export class SessionHandle implements Session {
  private currentId: string;
  private currentKey: string | undefined;
  /** Minted in this request, or found in the store: safe to write under (Plug's strict rule). */
  private trusted: boolean;
  /** The store holds a record under `currentId`. */
  private exists = false;
  private loaded: boolean;
  private loading: Promise<void> | undefined;
  private values = new Map<string, unknown>();
  private staged = new Map<string, Staged>();
  private clearStaged = false;
  private createdAt: number;
  private expiresAt = 0;
  /** Store keys to remove before anything else is written (destroyed or regenerated away). */
  private readonly doomed: string[] = [];
  private destroyed = false;
  private ignoring = false;
  /** The expiry changed in this request (written or touched): a persistent cookie is re-sent. */
  private extended = false;
  private writing: Promise<void> = Promise.resolve();
  private finalizing: Promise<void> | undefined;
  private outcome: Outcome = 'open';
  /** The response gate already answered a store failure with 503. */
  failureAnswered = false;

  constructor(
    private readonly deps: SessionHandleDeps,
    /** A well-formed id from the request cookie, if any. */
    private readonly incomingId: string | undefined,
    /** Whether the request came over HTTPS, as the platform sees it. */
    private readonly isSecureRequest: () => boolean,
  ) {
    this.currentId = incomingId ?? generateSessionId();
    this.trusted = incomingId === undefined;
    // A fresh id has nothing in the store: no need to ask.
    this.loaded = incomingId === undefined;
    this.createdAt = Date.now();
  }

  get id(): string {
    return this.currentId;
  }

  get isNew(): boolean {
    return !this.exists;
  }

  /** The commit has run (or been skipped for a 5xx) and the cookie decision is final. */
  get isSettled(): boolean {
    return this.outcome !== 'open';
  }

  load(): Promise<void> {
    return this.ensureLoaded();
  }

  get<K extends keyof SessionData & string>(key: K): Promise<SessionData[K] | undefined>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  async get(key: string): Promise<unknown> {
    assertSessionKey(key);
    await this.ensureLoaded();
    return this.values.get(key);
  }

  set<K extends keyof SessionData & string>(key: K, value: SessionData[K]): Promise<void>;
  set(key: string, value: unknown): Promise<void>;
  async set(key: string, value: unknown): Promise<void> {
    assertSessionKey(key);
    // Validate and copy before any I/O: a refused value leaves nothing staged.
    const copy = cloneSessionValue(key, value);
    await this.ensureLoaded();
    this.values.set(key, copy);
    this.staged.set(key, copy);
  }

  async delete(key: string): Promise<void> {
    assertSessionKey(key);
    await this.ensureLoaded();
    this.values.delete(key);
    this.staged.set(key, REMOVED);
  }

  async all(): Promise<Partial<SessionData> & Record<string, unknown>> {
    await this.ensureLoaded();
    // Object.fromEntries defines properties, so a key named __proto__ stays plain data.
    return Object.fromEntries(this.values) as Partial<SessionData> & Record<string, unknown>;
  }

  async clear(): Promise<void> {
    await this.ensureLoaded();
    this.values.clear();
    this.staged.clear();
    this.clearStaged = true;
  }

  async destroy(): Promise<void> {
    // No load needed: whatever the store holds under this id goes.
    if (this.exists || !this.trusted) this.doomed.push(this.storeKey());
    this.startOver();
    this.destroyed = true;
  }

  async regenerate(): Promise<void> {
    await this.ensureLoaded();
    if (this.exists) this.doomed.push(this.storeKey());
    const kept = this.values;
    this.startOver();
    this.values = kept;
    for (const [key, value] of kept) this.staged.set(key, value);
  }

  ignoreChanges(): void {
    this.ignoring = true;
  }

  save(): Promise<void> {
    return this.serially(() => this.flush());
  }

  /**
   * Commits the request's changes once: nothing for a 5xx response, everything otherwise.
   * Idempotent; a store failure rejects with `SessionStoreUnavailableException`.
   */
  finalize(status: number): Promise<void> {
    this.finalizing ??= this.runFinalize(status);
    return this.finalizing;
  }

  /**
   * Ends the request's session work without writing anything or sending a cookie, as for a 5xx.
   * A guard that denies a request calls it so that nothing half-done is committed.
   */
  discard(): void {
    if (this.outcome === 'open' && this.finalizing === undefined) {
      this.outcome = 'discarded';
      this.finalizing = Promise.resolve();
    }
  }

  /** The Set-Cookie values this response must carry; empty until committed. */
  setCookieHeaders(): string[] {
    if (this.outcome !== 'committed' || this.ignoring) return [];
    if (this.destroyed && !this.exists) return [this.expiredCookie()];
    if (this.currentId !== this.incomingId) return [this.liveCookie()];
    if (this.exists && this.extended && this.deps.options.cookie.persistent) return [this.liveCookie()];
    return [];
  }

  private async runFinalize(status: number): Promise<void> {
    if (status >= 500) {
      this.outcome = 'discarded';
      return;
    }
    try {
      await this.serially(() => this.flush());
      this.outcome = 'committed';
    } catch (error) {
      this.outcome = 'failed';
      throw error;
    }
  }

  /** Forgets the current id and data: what follows starts a new session under a new id. */
  private startOver(): void {
    this.currentId = generateSessionId();
    this.currentKey = undefined;
    this.trusted = true;
    this.exists = false;
    this.loaded = true;
    this.loading = undefined;
    this.values = new Map();
    this.staged = new Map();
    this.clearStaged = false;
    this.createdAt = Date.now();
  }

  private storeKey(): string {
    this.currentKey ??= sessionStoreKey(this.currentId);
    return this.currentKey;
  }

  private ensureLoaded(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    this.loading ??= this.loadFromStore();
    return this.loading;
  }

  private async loadFromStore(): Promise<void> {
    const id = this.currentId;
    const key = this.storeKey();
    let record;
    try {
      record = await this.deps.store.get(key);
    } catch (error) {
      this.loading = undefined;
      throw this.unavailable('load', error);
    }
    // destroy() or regenerate() ran meanwhile: this answer is about an id we no longer hold.
    if (this.currentId !== id) return;
    const now = Date.now();
    if (record && record.createdAt + this.deps.options.absoluteTimeoutMs <= now) {
      this.deps.logger.debug('Session reached its absolute timeout; starting a new one');
      this.doomed.push(key);
      record = undefined;
    }
    if (record && record.expiresAt > now) {
      this.values = record.data;
      this.exists = true;
      this.trusted = true;
      this.createdAt = record.createdAt;
      this.expiresAt = record.expiresAt;
    }
    this.loaded = true;
  }

  /** Runs store writes one after another, so `save()` and the final commit never interleave. */
  private serially(work: () => Promise<void>): Promise<void> {
    const next = this.writing.then(work);
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async flush(): Promise<void> {
    if (this.ignoring) return;
    // A load still in flight settles first; a session nobody used is not loaded just to commit.
    if (this.loading !== undefined) await this.loading;
    await this.destroyDoomed();
    if (!this.loaded) return;
    const now = Date.now();
    if (this.staged.size === 0 && !this.clearStaged) {
      await this.touchIfDue(now);
      return;
    }
    if (this.exists) await this.writeUpdate(now);
    else await this.writeCreate(now);
  }

  private async destroyDoomed(): Promise<void> {
    while (this.doomed.length > 0) {
      await this.call('destroy', () => this.deps.store.destroy(this.doomed[0]));
      this.doomed.shift();
    }
  }

  private async writeCreate(now: number): Promise<void> {
    // Plug's strict rule: never adopt an id the client brought but the store does not hold.
    if (!this.trusted) {
      this.currentId = generateSessionId();
      this.currentKey = undefined;
      this.trusted = true;
      this.createdAt = now;
    }
    this.resetStaged();
    if (this.values.size === 0) return;
    const ttl = this.ttl(now);
    await this.call('write', () =>
      this.deps.store.write(this.storeKey(), {
        mode: 'create',
        set: new Map(this.values),
        delete: [],
        clear: false,
        createdAt: this.createdAt,
        ttl,
      }),
    );
    this.exists = true;
    this.expiresAt = now + ttl;
    this.extended = true;
  }

  private async writeUpdate(now: number): Promise<void> {
    const set = new Map<string, unknown>();
    const removed: string[] = [];
    for (const [key, value] of this.staged) {
      if (value === REMOVED) removed.push(key);
      else set.set(key, value);
    }
    const clear = this.clearStaged;
    const ttl = this.ttl(now);
    const written = await this.call('write', () =>
      this.deps.store.write(this.storeKey(), {
        mode: 'update',
        set,
        delete: removed,
        clear,
        createdAt: this.createdAt,
        ttl,
      }),
    );
    this.resetStaged();
    if (!written) {
      // Destroyed by a concurrent request (logout): the destroy wins, nothing comes back.
      this.deps.logger.debug('Session was destroyed during the request; its changes are dropped');
      this.exists = false;
      this.destroyed = true;
      this.values = new Map();
      return;
    }
    this.expiresAt = now + ttl;
    this.extended = true;
  }

  private async touchIfDue(now: number): Promise<void> {
    if (!this.exists) return;
    const ttl = this.ttl(now);
    // Extending by a little is not worth a store round trip; a tenth of the idle timeout
    // (at most a minute) of precision is.
    const threshold = Math.min(60_000, this.deps.options.idleTimeoutMs / 10);
    if (now + ttl - this.expiresAt < threshold) return;
    const alive = await this.call('touch', () => this.deps.store.touch(this.storeKey(), ttl));
    if (alive) {
      this.expiresAt = now + ttl;
      this.extended = true;
    }
  }

  private resetStaged(): void {
    this.staged = new Map();
    this.clearStaged = false;
  }

  /** Store TTL in ms: the idle timeout, cut short by the absolute one. Cookie Max-Age uses it too. */
  private ttl(now: number): number {
    const { idleTimeoutMs, absoluteTimeoutMs } = this.deps.options;
    return Math.max(0, Math.min(idleTimeoutMs, this.createdAt + absoluteTimeoutMs - now));
  }

  private async call<T>(operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.unavailable(operation, error);
    }
  }

  private unavailable(operation: string, error: unknown): SessionStoreUnavailableException {
    const reason = error instanceof Error ? error.message : String(error);
    this.deps.logger.error(`Session store ${operation} failed: ${reason}`);
    return new SessionStoreUnavailableException({ cause: error });
  }

  private liveCookie(): string {
    const cookie = this.deps.options.cookie;
    const maxAge =
      cookie.persistent && this.exists ? Math.ceil((this.expiresAt - Date.now()) / 1000) : undefined;
    return stringifySetCookie({
      name: cookie.name,
      value: this.currentId,
      path: cookie.path,
      domain: cookie.domain,
      httpOnly: cookie.httpOnly,
      sameSite: cookie.sameSite,
      secure: this.secure(),
      maxAge,
    });
  }

  private expiredCookie(): string {
    const cookie = this.deps.options.cookie;
    return stringifySetCookie({
      name: cookie.name,
      value: '',
      path: cookie.path,
      domain: cookie.domain,
      httpOnly: cookie.httpOnly,
      sameSite: cookie.sameSite,
      secure: this.secure(),
      maxAge: 0,
      expires: new Date(0),
    });
  }

  private secure(): boolean {
    const secure = this.deps.options.cookie.secure;
    return secure === 'auto' ? this.isSecureRequest() : secure;
  }
}
