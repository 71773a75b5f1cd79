import type { Logger } from '@nestjs/common';
import type { CookieSealer, SealedSession } from '../cookie/cookie-sealer.js';
import { generateSessionId, sessionStoreKey } from '../cookie/session-id.js';
import { COOKIE_SIZE_LIMIT, SessionCookieWriter } from '../cookie/session-cookie.js';
import type { Session, SessionData, SessionValue } from './session.interface.js';
import {
  SessionAlreadyCommittedError,
  SessionStoreUnavailableException,
  SessionTooLargeError,
  SessionValueError,
} from '../session.exceptions.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { assertSessionKey, cloneSessionValue, copyJsonValue } from './session-value.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import type { SessionStore, StoredSession } from '../stores/session.store.js';

/** What a handle needs from the module. Internal. */
export interface SessionHandleDeps {
  readonly store: SessionStore;
  readonly options: ResolvedSessionOptions;
  readonly logger: Logger;
  /** Shared cookie writer; one is made per handle when absent. */
  readonly cookies?: SessionCookieWriter;
}

/** What the request brought besides a plain id. */
export interface IncomingSession {
  /** The cookie was signed or sealed under an older secret: send it again under the newest. */
  stale?: boolean;
  /** Cookie store: the session opened from the cookie. */
  sealed?: SealedSession;
}

/** Marks a staged removal. */
const REMOVED = Symbol('removed');
type Staged = unknown | typeof REMOVED;

/** Reserved key under which flash messages wait for the next request. */
export const FLASH_KEY = '$flash';

/** Where the handle is in its request's life. */
type Outcome = 'open' | 'committed' | 'discarded' | 'failed';

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function assertUserKey(key: unknown): asserts key is string {
  assertSessionKey(key);
  if (key === FLASH_KEY) {
    throw new SessionValueError(`session key "${FLASH_KEY}" is reserved for flash messages; use flash(key, value)`);
  }
}

/**
 * The per-request session: lazy load, per-key staging, one commit before the response leaves.
 * The guard, the interceptor, the decorator and `SessionService` all reach the same instance
 * (the first of them to ask creates it). With a `CookieStore` the same handle keeps the
 * session in a sealed cookie instead of a store. Internal: users see the `Session` interface.
 */
export class SessionHandle implements Session {
  private currentId: string;
  private currentKey: string | undefined;
  /** Minted in this request, or found in the store: safe to write under (Plug's strict rule). */
  private trusted: boolean;
  /** The store (or the cookie) holds a session under `currentId`. */
  private exists = false;
  private loaded: boolean;
  private loading: Promise<void> | undefined;
  private values = new Map<string, unknown>();
  private staged = new Map<string, Staged>();
  private clearStaged = false;
  private createdAt: number;
  private expiresAt = 0;
  /** Flash messages left by the previous request. */
  private incomingFlash: Record<string, unknown> = {};
  /** Flash messages for the next request. */
  private outgoingFlash: Record<string, unknown> | undefined;
  /**
   * Store keys to remove before anything else is written (destroyed or regenerated away).
   * `moving`: the data goes on under a new id, which must not happen if the old record was
   * already gone (a concurrent logout destroyed it).
   */
  private readonly doomed: Array<{ key: string; moving: boolean }> = [];
  /** Bumped whenever the handle starts over under a new id: stale async work checks it. */
  private generation = 0;
  private destroyed = false;
  private dropped = false;
  private ignoring = false;
  /** Some session method was called in this request. */
  private used = false;
  /** The expiry moved in this request (written or touched). */
  private extended = false;
  private readonly stale: boolean;
  private readonly sealer: CookieSealer | undefined;
  private readonly cookies: SessionCookieWriter;
  /** The store write in progress (`save()` or the commit), which the next one waits for. */
  private writing: Promise<void> | undefined;
  private finalizing: Promise<void> | undefined;
  private outcome: Outcome = 'open';

  constructor(
    private readonly deps: SessionHandleDeps,
    /** A well-formed id from the request cookie, if any. */
    private readonly incomingId: string | undefined,
    /** Whether the request came over HTTPS, as the platform sees it. */
    private readonly isSecureRequest: () => boolean,
    incoming: IncomingSession = {},
    /** Called once, at the first use of the session (the manager sets up the commit then). */
    private readonly onFirstUse?: (handle: SessionHandle) => void,
  ) {
    this.currentId = incomingId ?? generateSessionId();
    this.trusted = incomingId === undefined;
    // A fresh id has nothing in the store: no need to ask.
    this.loaded = incomingId === undefined;
    this.createdAt = Date.now();
    this.stale = incoming.stale === true;
    this.cookies = deps.cookies ?? new SessionCookieWriter(deps.options);
    this.sealer = deps.store instanceof CookieStore ? deps.store.sealer : undefined;
    if (this.sealer !== undefined) this.openSealed(incoming.sealed);
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
    this.use();
    return this.ensureLoaded();
  }

  get<K extends keyof SessionData & string>(key: K): Promise<SessionData[K] | undefined>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  async get(key: string): Promise<unknown> {
    assertUserKey(key);
    this.use();
    await this.ensureLoaded();
    return copyJsonValue(this.values.get(key));
  }

  async set<K extends string>(key: K, value: SessionValue<K>): Promise<void> {
    assertUserKey(key);
    this.use();
    this.assertOpen();
    // Validate and copy before any I/O: a refused value leaves nothing staged.
    const copy = cloneSessionValue(key, value);
    if (!(await this.loadedUnchanged())) return;
    const had = this.values.has(key);
    const previous = this.values.get(key);
    const previousStaged = this.staged.get(key);
    this.values.set(key, copy);
    this.staged.set(key, copy);
    this.refuseOversizedCookie(() => {
      if (had) this.values.set(key, previous);
      else this.values.delete(key);
      if (previousStaged === undefined) this.staged.delete(key);
      else this.staged.set(key, previousStaged);
    });
  }

  async delete(key: string): Promise<void> {
    assertUserKey(key);
    this.use();
    this.assertOpen();
    if (!(await this.loadedUnchanged())) return;
    this.values.delete(key);
    this.staged.set(key, REMOVED);
  }

  async all(): Promise<Partial<SessionData> & Record<string, unknown>> {
    this.use();
    await this.ensureLoaded();
    // Object.fromEntries defines properties, so a key named __proto__ stays plain data.
    return copyJsonValue(Object.fromEntries(this.values)) as Partial<SessionData> & Record<string, unknown>;
  }

  async clear(): Promise<void> {
    this.use();
    this.assertOpen();
    if (!(await this.loadedUnchanged())) return;
    this.values.clear();
    this.staged.clear();
    this.clearStaged = true;
    // Flash messages for the next request survive a clear: they are not session data.
    if (this.outgoingFlash !== undefined) this.staged.set(FLASH_KEY, { ...this.outgoingFlash });
  }

  async destroy(): Promise<void> {
    this.use();
    this.assertOpen();
    // No load needed: whatever the store holds under this id goes.
    if (this.sealer === undefined && (this.exists || !this.trusted)) this.doomed.push({ key: this.storeKey(), moving: false });
    this.startOver();
    this.destroyed = true;
  }

  async drop(): Promise<void> {
    await this.destroy();
    this.dropped = true;
  }

  async regenerate(): Promise<void> {
    this.use();
    this.assertOpen();
    const generation = this.generation;
    await this.ensureLoaded();
    if (generation !== this.generation) return;
    if (this.sealer === undefined && this.exists) this.doomed.push({ key: this.storeKey(), moving: true });
    const kept = this.values;
    const flash = this.outgoingFlash;
    this.startOver();
    this.values = kept;
    for (const [key, value] of kept) this.staged.set(key, value);
    if (flash !== undefined) this.stageFlash(flash);
  }

  async flash(key: string, value: unknown): Promise<void> {
    assertSessionKey(key);
    this.use();
    this.assertOpen();
    const copy = cloneSessionValue(key, value);
    if (!(await this.loadedUnchanged())) return;
    const previous = this.outgoingFlash;
    this.stageFlash({ ...previous, [key]: copy });
    this.refuseOversizedCookie(() => {
      if (previous === undefined) {
        this.outgoingFlash = undefined;
        this.staged.delete(FLASH_KEY);
      } else {
        this.stageFlash(previous);
      }
    });
  }

  async getFlash<T = unknown>(key: string): Promise<T | undefined> {
    assertSessionKey(key);
    this.use();
    await this.ensureLoaded();
    return Object.hasOwn(this.incomingFlash, key) ? copyJsonValue(this.incomingFlash[key] as T) : undefined;
  }

  ignoreChanges(): void {
    this.use();
    this.ignoring = true;
  }

  async save(): Promise<void> {
    this.use();
    this.assertOpen();
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
   * Settles at once, without waiting, when the request left nothing to do in the store (the
   * session was not used, or only read with no touch due). Lets the response go out unheld.
   * Resolves `false` when there is work, which `finalize` then does.
   */
  settleIfIdle(status: number): boolean {
    if (this.finalizing !== undefined) return this.isSettled;
    // No load in flight (a finished one leaves `loading` set and `loaded` true), nothing staged
    // or doomed, and no expiry to extend.
    const idle =
      (this.loading === undefined || this.loaded) &&
      this.doomed.length === 0 &&
      this.staged.size === 0 &&
      !this.clearStaged &&
      !(this.loaded && this.exists && this.touchDue(Date.now()));
    if (!idle) return false;
    this.outcome = status >= 500 ? 'discarded' : 'committed';
    this.finalizing = Promise.resolve();
    return true;
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
    const secure = this.secure();
    if (this.destroyed && !this.exists) return this.cookies.expired(secure);
    if (!this.cookieDue()) return [];
    const maxAge = this.cookieMaxAge();
    const lines = [this.cookies.live(this.cookieValue(), maxAge, secure)];
    if (this.deps.options.keepPublicCookie && this.exists) lines.push(this.cookies.livePublic(maxAge, secure));
    return lines;
  }

  private use(): void {
    if (this.used) return;
    this.used = true;
    this.onFirstUse?.(this);
  }

  /** Changes after the commit began would be lost: refuse them loudly instead. */
  private assertOpen(): void {
    if (this.finalizing !== undefined) throw new SessionAlreadyCommittedError();
  }

  /** Whether this response must (re)send the session cookie. */
  private cookieDue(): boolean {
    const { rolling, renew, cookie } = this.deps.options;
    if (this.sealer !== undefined) {
      // The cookie is the session: send it whenever its content, expiry or key changed.
      return this.exists && (this.extended || this.stale || (rolling && this.used));
    }
    if (this.currentId !== this.incomingId) return true;
    if (this.stale) return true;
    if (!this.exists) return false;
    if (rolling && this.used) return true;
    return this.extended && (cookie.persistent || renew !== undefined);
  }

  private cookieValue(): string {
    if (this.sealer !== undefined) return this.sealer.seal(this.sealedPayload());
    const signer = this.deps.options.signer;
    return signer === undefined ? this.currentId : signer.sign(this.currentId);
  }

  /** Max-Age in seconds for a persistent cookie: the same remaining lifetime as the store TTL. */
  private cookieMaxAge(): number | undefined {
    if (!this.deps.options.cookie.persistent || !this.exists) return undefined;
    return Math.max(0, Math.ceil((this.expiresAt - Date.now()) / 1000));
  }

  private sealedPayload(): SealedSession {
    const data = Object.fromEntries(this.values);
    if (this.outgoingFlash !== undefined) {
      Object.defineProperty(data, FLASH_KEY, { value: this.outgoingFlash, enumerable: true, writable: true, configurable: true });
    }
    return { id: this.currentId, createdAt: this.createdAt, expiresAt: this.expiresAt, data };
  }

  /**
   * Cookie store only: measures the cookie this session would need and, when it is over the
   * browser limit, undoes the change and refuses it. Never truncates.
   */
  private refuseOversizedCookie(undo: () => void): void {
    if (this.sealer === undefined) return;
    const expiresAt = this.expiresAt;
    if (!this.exists) this.expiresAt = Date.now() + this.ttl(Date.now());
    // The sealed value is base64url, so the line is the line without it plus its length.
    const size = this.sealer.sealedLength(this.sealedPayload()) + Buffer.byteLength(this.cookies.live('', this.cookieMaxAge() ?? 0, true));
    this.expiresAt = expiresAt;
    if (size > COOKIE_SIZE_LIMIT) {
      undo();
      throw new SessionTooLargeError(size);
    }
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
    this.generation++;
    this.currentId = generateSessionId();
    this.currentKey = undefined;
    this.trusted = true;
    this.exists = false;
    this.loaded = true;
    this.loading = undefined;
    this.values = new Map();
    this.staged = new Map();
    this.clearStaged = false;
    this.outgoingFlash = undefined;
    this.createdAt = Date.now();
  }

  private stageFlash(flash: Record<string, unknown>): void {
    this.outgoingFlash = flash;
    this.staged.set(FLASH_KEY, { ...flash });
  }

  private storeKey(): string {
    this.currentKey ??= sessionStoreKey(this.currentId);
    return this.currentKey;
  }

  /**
   * Loads the session; resolves `false` when `destroy()` or `regenerate()` ran meanwhile, so a
   * change aimed at the old session is not applied to the new one (it is dropped).
   */
  private async loadedUnchanged(): Promise<boolean> {
    const generation = this.generation;
    await this.ensureLoaded();
    if (generation === this.generation) return true;
    this.deps.logger.debug('A session change raced destroy() or regenerate() in the same request; dropped');
    return false;
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
    if (record !== undefined && this.isPastAbsoluteTimeout(record)) {
      this.doomed.push({ key, moving: false });
      record = undefined;
    }
    if (record !== undefined && record.expiresAt > Date.now()) this.adopt(record);
    this.loaded = true;
  }

  /** Cookie store: the session comes from the cookie itself, already opened and checked. */
  private openSealed(sealed: SealedSession | undefined): void {
    this.loaded = true;
    if (sealed === undefined || sealed.id !== this.incomingId) return;
    const record = {
      data: new Map(Object.entries(sealed.data)),
      createdAt: sealed.createdAt,
      expiresAt: sealed.expiresAt,
    };
    if (!this.isPastAbsoluteTimeout(record) && record.expiresAt > Date.now()) this.adopt(record);
  }

  private isPastAbsoluteTimeout(record: StoredSession): boolean {
    if (record.createdAt + this.deps.options.absoluteTimeoutMs > Date.now()) return false;
    this.deps.logger.debug('Session reached its absolute timeout; starting a new one');
    return true;
  }

  private adopt(record: StoredSession): void {
    this.values = record.data;
    this.exists = true;
    this.trusted = true;
    this.createdAt = record.createdAt;
    this.expiresAt = record.expiresAt;
    if (this.values.has(FLASH_KEY)) {
      const flash = this.values.get(FLASH_KEY);
      this.values.delete(FLASH_KEY);
      this.incomingFlash = isPlainRecord(flash) ? flash : {};
      // Shown once: gone after this request unless it leaves new messages.
      this.staged.set(FLASH_KEY, REMOVED);
    }
  }

  /** Runs store writes one after another, so `save()` and the final commit never interleave. */
  private serially(work: () => Promise<void>): Promise<void> {
    const next = this.writing === undefined ? work() : this.writing.then(work);
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async flush(): Promise<void> {
    if (this.ignoring) return;
    // A load still in flight settles first; a session nobody used is not loaded just to commit.
    if (this.loading !== undefined) await this.loading;
    if (this.doomed.length > 0) await this.destroyDoomed();
    if (!this.loaded || this.dropped) return;
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
      const { key, moving } = this.doomed[0];
      const removed = await this.call('destroy', () => this.deps.store.destroy(key));
      this.doomed.shift();
      if (moving && removed === false) this.lostToConcurrentDestroy();
    }
  }

  /**
   * The session was destroyed by another request (a logout) while this one used it: the
   * destroy wins. Nothing is written, the cookie is expired, and nothing comes back.
   */
  private lostToConcurrentDestroy(): void {
    this.deps.logger.debug('Session was destroyed during the request; its changes are dropped');
    this.startOver();
    this.destroyed = true;
    this.dropped = true;
  }

  private async writeCreate(now: number): Promise<void> {
    // Plug's strict rule: never adopt an id the client brought but the store does not hold.
    if (!this.trusted) {
      this.currentId = generateSessionId();
      this.currentKey = undefined;
      this.trusted = true;
      this.createdAt = now;
    }
    const set = new Map(this.values);
    const flash = this.staged.get(FLASH_KEY);
    if (flash !== undefined && flash !== REMOVED) set.set(FLASH_KEY, flash);
    this.resetStaged();
    if (set.size === 0) return;
    const ttl = this.ttl(now);
    if (this.sealer === undefined) {
      await this.call('write', () =>
        this.deps.store.write(this.storeKey(), { mode: 'create', set, delete: [], clear: false, createdAt: this.createdAt, ttl }),
      );
    }
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
    this.resetStaged();
    if (this.sealer === undefined) {
      const written = await this.call('write', () =>
        this.deps.store.write(this.storeKey(), { mode: 'update', set, delete: removed, clear, createdAt: this.createdAt, ttl }),
      );
      if (!written) {
        this.lostToConcurrentDestroy();
        return;
      }
    }
    this.expiresAt = now + ttl;
    this.extended = true;
  }

  private async touchIfDue(now: number): Promise<void> {
    if (!this.exists || !this.touchDue(now)) return;
    const ttl = this.ttl(now);
    if (this.sealer === undefined) {
      const alive = await this.call('touch', () => this.deps.store.touch(this.storeKey(), ttl));
      if (!alive) return;
    }
    this.expiresAt = now + ttl;
    this.extended = true;
  }

  /**
   * Whether a session that was used but not changed should have its expiry extended.
   * `rolling`: always. `renew`: once less than that share of the idle timeout is left.
   * Otherwise: when it would gain a tenth of the idle timeout (at most a minute), since a
   * smaller gain is not worth a store round trip.
   */
  private touchDue(now: number): boolean {
    const { rolling, renew, idleTimeoutMs } = this.deps.options;
    const gain = now + this.ttl(now) - this.expiresAt;
    if (gain <= 0) return false;
    if (rolling) return true;
    if (renew !== undefined) return this.expiresAt - now < renew * idleTimeoutMs;
    return gain >= Math.min(60_000, idleTimeoutMs / 10);
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

  private secure(): boolean {
    const secure = this.deps.options.cookie.secure;
    return secure === 'auto' ? this.isSecureRequest() : secure;
  }
}
