import type { Logger } from '@nestjs/common';
import type { SealedSession } from '../cookie/cookie-sealer.js';
import type { SessionCookieWriter } from '../cookie/session-cookie.js';
import type { IncomingSession, PersistedSession, SessionPersistence } from '../persistence/session-persistence.js';
import type { RegenerateOptions, Session, SessionData, SessionKey, SessionValue } from './session.interface.js';
import { SessionAlreadyCommittedError, SessionUpdateConflictException, SessionValueError } from '../session.exceptions.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { cookieMaxAge, isPastAbsoluteTimeout, isTouchDue, sessionTtl } from './session-expiry.js';
import { jsonEntryBytes, jsonObjectBytes, SessionSizeTally } from './session-size.js';
import { assertSessionKey, cloneSessionValue, copyJsonValue, isPlainObject } from './session-value.js';
import { type SessionWrite, type StoredSession, USER_BINDING_KEY } from '../stores/session.store.js';
import { isCsrfSecret, newCsrfSecret } from '../security/csrf-token.js';
import { incrementBy, pause, type SessionUpdateOptions, updateAttempts, updatePauseMs } from './session-update.js';
import { assertUserId, readUserBinding, type UserBinding, userBinding, type UserSessionMetadata } from '../users/user-sessions.js';

/** What a handle needs from the module: one of each per application. Internal. */
export interface SessionHandleDeps {
  /** Where the session's record lives (a store, or the cookie itself). */
  readonly persistence: SessionPersistence;
  readonly options: ResolvedSessionOptions;
  readonly logger: Logger;
  readonly cookies: SessionCookieWriter;
}

/** Marks a staged removal. */
const REMOVED = Symbol('removed');
type Staged = unknown | typeof REMOVED;

/** Reserved key under which flash messages wait for the next request. */
export const FLASH_KEY = '$flash';

/** Reserved key of the session's CSRF secret (see `SessionCsrfGuard`); hidden from `all()`. */
export const CSRF_SECRET_KEY = '$csrf';

/** Where the handle is in its request's life. */
type Outcome = 'open' | 'committed' | 'discarded' | 'failed';

function assertUserKey(key: unknown): asserts key is string {
  assertSessionKey(key);
  if (key === FLASH_KEY) {
    throw new SessionValueError(`session key "${FLASH_KEY}" is reserved for flash messages; use flash(key, value)`);
  }
  if (key === USER_BINDING_KEY) {
    throw new SessionValueError(`session key "${USER_BINDING_KEY}" is reserved for the user binding; use bindUser(userId)`);
  }
  if (key === CSRF_SECRET_KEY) {
    throw new SessionValueError(`session key "${CSRF_SECRET_KEY}" is reserved for the CSRF secret; use SessionService.csrfToken(request)`);
  }
}

/** Checks `regenerate({ keep })` before anything changes. */
function keptKeys(options: RegenerateOptions | undefined): ReadonlySet<string> | undefined {
  const keep: unknown = options?.keep;
  if (keep === undefined) return undefined;
  if (!Array.isArray(keep) || !keep.every((key) => typeof key === 'string')) {
    throw new SessionValueError('regenerate({ keep }) takes an array of session keys');
  }
  return new Set(keep as string[]);
}

/**
 * The per-request session: lazy load, per-key staging, one commit before the response leaves.
 * The guard, the interceptor, the decorator and `SessionService` all reach the same instance
 * (the first of them to ask creates it). Where the record lives (a store, or a sealed cookie)
 * is the `SessionPersistence`'s business; the handle keeps the API, the staged changes and the
 * commit's outcome. Internal: users see the `Session` interface.
 */
export class SessionHandle implements Session, PersistedSession {
  private currentId: string;
  /** Where the persistence addresses the record of `currentId`; computed once, when needed. */
  private currentKey: string | undefined;
  /**
   * Minted in this request, or found in the store: safe to write under (Plug's strict rule).
   * An untrusted id is still written under when this application issued it (`adoptFirstWrite`).
   */
  private trusted: boolean;
  /** A record exists under `currentId` (in the store, or in the cookie). */
  private exists = false;
  private loaded: boolean;
  private loading: Promise<void> | undefined;
  private values = new Map<string, unknown>();
  /** `values` as loaded, kept at the first change, so a denial can commit a flash alone. */
  private loadedValues: Map<string, unknown> | undefined;
  /** The JSON size of `values`, kept per key once a size limit asks for it. */
  private readonly size = new SessionSizeTally();
  private staged = new Map<string, Staged>();
  private clearStaged = false;
  private createdAt: number;
  private expiresAt = 0;
  /** Flash messages left by the previous request. */
  private incomingFlash: Record<string, unknown> = {};
  /** Flash messages for the next request. */
  private outgoingFlash: Record<string, unknown> | undefined;
  /** The user this session belongs to (`bindUser`), kept in the record under `USER_BINDING_KEY`. */
  private binding: UserBinding | undefined;
  /** `bindUser` ran in this request: the next write tells the store to index the session. */
  private bindingChanged = false;
  /**
   * Record keys to remove before anything else is written (destroyed or regenerated away).
   * `moving`: the data goes on under a new id, which must not happen if the old record was
   * already gone (a concurrent logout destroyed it). `markUntil`: the id could be adopted
   * until then, so the store keeps the key from being adopted until then (a destroy mark).
   */
  private readonly doomed: Array<{ key: string; moving: boolean; markUntil: number | undefined }> = [];
  /** Bumped whenever the handle starts over under a new id: stale async work checks it. */
  private generation = 0;
  private destroyed = false;
  private dropped = false;
  private ignoring = false;
  /** Some session method was called in this request. */
  private used = false;
  /** The expiry moved in this request (written or touched). */
  private extended = false;
  private readonly persistence: SessionPersistence;
  /** The store write in progress (`save()` or the commit), which the next one waits for. */
  private writing: Promise<void> | undefined;
  private finalizing: Promise<void> | undefined;
  private outcome: Outcome = 'open';
  /**
   * @internal Runs before every commit and `save()`, while changes are still accepted: a copy of
   * the data kept elsewhere (the express-session-compatible `req.session`) stages what changed.
   */
  beforeCommit: (() => void) | undefined;
  /**
   * @internal Told when this request starts the session over by itself, so that such a copy
   * follows: `'renewing'` inside `regenerate()` while the old session is still current (stage
   * what changed, so `keep` applies to it), `'renewed'` after `regenerate()` or `clear()` (take
   * the values now held), `'ended'` at `destroy()` (stage nothing more).
   */
  onStartOver: ((phase: 'renewing' | 'renewed' | 'ended') => void) | undefined;

  constructor(
    private readonly deps: SessionHandleDeps,
    /** What the request cookie named, decoded by the persistence; `undefined` for none. */
    private readonly incoming: IncomingSession | undefined,
    /** Whether the request came over HTTPS, as the platform sees it. */
    private readonly isSecureRequest: () => boolean,
    /** Called once, at the first use of the session (the manager sets up the commit then). */
    private readonly onFirstUse?: (handle: SessionHandle) => void,
  ) {
    this.persistence = deps.persistence;
    this.currentId = incoming?.id ?? deps.options.ids.issue();
    this.trusted = incoming === undefined;
    this.createdAt = Date.now();
    // A fresh id has nothing to load, and a sealed cookie brought its record along (which, when
    // bound to a user, the persistence may still have to admit: a revocation lookup on load).
    const record = incoming?.record;
    const admitted = record === undefined || this.persistence.admit === undefined || readUserBinding(record.data) === undefined;
    this.loaded = incoming === undefined || (record !== undefined && admitted);
    if (record !== undefined && admitted) this.openIncoming(record);
  }

  get id(): string {
    return this.currentId;
  }

  get isNew(): boolean {
    return !this.exists;
  }

  get userId(): string | undefined {
    return this.binding?.id;
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
    this.stageCopy(key, copy);
  }

  /**
   * @internal Stages a change at once, without awaiting: only for a session already loaded, from
   * a `beforeCommit` hook (the express-session-compatible `req.session` stages what changed in
   * it that way). `undefined` removes the key. A refused value throws and leaves nothing staged.
   */
  stageNow(key: string, value: unknown): void {
    assertUserKey(key);
    this.assertOpen();
    if (value === undefined) {
      this.keepLoadedValues();
      this.size.delete(key, this.values.has(key), this.values.get(key));
      this.values.delete(key);
      this.staged.set(key, REMOVED);
      return;
    }
    this.stageCopy(key, cloneSessionValue(key, value));
  }

  private stageCopy(key: string, copy: unknown): void {
    this.keepLoadedValues();
    const had = this.values.has(key);
    const previous = this.values.get(key);
    const previousStaged = this.staged.get(key);
    this.values.set(key, copy);
    this.size.set(key, copy, had, previous);
    this.staged.set(key, copy);
    try {
      this.persistence.assertFits(this);
    } catch (error) {
      // Refused, never truncated: the session stays as it was before this call.
      if (had) {
        this.values.set(key, previous);
        this.size.set(key, previous, true, copy);
      } else {
        this.values.delete(key);
        this.size.delete(key, true, copy);
      }
      if (previousStaged === undefined) this.staged.delete(key);
      else this.staged.set(key, previousStaged);
      throw error;
    }
  }

  update<K extends SessionKey>(
    key: K,
    fn: (current: SessionData[K] | undefined) => SessionData[K],
    options?: SessionUpdateOptions,
  ): Promise<SessionData[K] | undefined>;
  update<T = unknown>(key: string, fn: (current: T | undefined) => T, options?: SessionUpdateOptions): Promise<T | undefined>;
  async update(key: string, fn: (current: unknown) => unknown, options?: SessionUpdateOptions): Promise<unknown> {
    assertUserKey(key);
    if (typeof fn !== 'function') {
      throw new SessionValueError(`session.update(${JSON.stringify(key)}, fn) needs a function from the current value to the new one`);
    }
    const maxAttempts = updateAttempts(options);
    this.use();
    this.assertOpen();
    if (!(await this.loadedUnchanged())) return undefined;
    const compareAndSet = this.persistence.compareAndSet;
    // Nothing in the store to update under this key yet, or a change of it already staged
    // here (which wins at the commit, as `set` does), or the record rides in the cookie: the
    // update works on this request's own value and is staged with the rest.
    if (compareAndSet === undefined || !this.exists || this.ignoring || this.clearStaged || this.staged.has(key)) {
      const next = cloneSessionValue(key, fn(copyJsonValue(this.values.get(key))));
      this.stageCopy(key, next);
      return copyJsonValue(next);
    }
    const work = (): Promise<unknown> => this.updateInStore(key, fn, maxAttempts, compareAndSet);
    const recordKey = this.recordKey();
    return this.serially(() => this.persistence.inTurn?.(recordKey, key, work) ?? work());
  }

  async increment(key: string, by = 1): Promise<number | undefined> {
    return this.update<number>(key, incrementBy(key, by) as (current: number | undefined) => number);
  }

  /**
   * Compare-and-set against the store until it applies: `fn` runs on the value last seen (the
   * loaded one first, perhaps from a near-cache; the store compares against its own), and a
   * refusal brings the store's current value for the next run. Written at once, outside the
   * commit, so a 5xx response does not undo it.
   */
  private async updateInStore(
    key: string,
    fn: (current: unknown) => unknown,
    maxAttempts: number,
    compareAndSet: NonNullable<SessionPersistence['compareAndSet']>,
  ): Promise<unknown> {
    const generation = this.generation;
    let expected = this.values.get(key);
    for (let attempt = 1; ; attempt++) {
      const next = cloneSessionValue(key, fn(copyJsonValue(expected)));
      const now = Date.now();
      const ttl = this.ttl(now);
      const result = await compareAndSet.call(this.persistence, this.recordKey(), key, expected, next, ttl);
      // destroy() or regenerate() ran meanwhile in this request: the old record is on its way out.
      if (generation !== this.generation) return undefined;
      if (result.outcome === 'applied') {
        this.values.set(key, next);
        this.expiresAt = now + ttl;
        this.extended = true;
        return copyJsonValue(next);
      }
      if (result.outcome === 'gone') {
        this.lostToConcurrentDestroy();
        return undefined;
      }
      expected = result.current;
      if (expected === undefined) this.values.delete(key);
      else this.values.set(key, expected);
      if (attempt >= maxAttempts) throw new SessionUpdateConflictException(key, attempt);
      await pause(updatePauseMs(attempt));
    }
  }

  async delete(key: string): Promise<void> {
    assertUserKey(key);
    this.use();
    this.assertOpen();
    if (!(await this.loadedUnchanged())) return;
    this.keepLoadedValues();
    this.size.delete(key, this.values.has(key), this.values.get(key));
    this.values.delete(key);
    this.staged.set(key, REMOVED);
  }

  async all(): Promise<Partial<SessionData> & Record<string, unknown>> {
    this.use();
    await this.ensureLoaded();
    // Object.fromEntries defines properties, so a key named __proto__ stays plain data.
    return this.valuesNow();
  }

  /** @internal `all()` of a session already loaded, synchronously. */
  valuesNow(): Partial<SessionData> & Record<string, unknown> {
    const all = copyJsonValue(Object.fromEntries(this.values)) as Partial<SessionData> & Record<string, unknown>;
    delete all[CSRF_SECRET_KEY];
    return all;
  }

  async clear(): Promise<void> {
    this.use();
    this.assertOpen();
    if (!(await this.loadedUnchanged())) return;
    this.keepLoadedValues();
    this.values.clear();
    this.size.clear();
    this.staged.clear();
    this.clearStaged = true;
    // An emptied session belongs to no one: the binding goes with the data (the index's entry
    // stays until its deadline; lists and revocations skip a session no longer bound).
    this.binding = undefined;
    this.bindingChanged = false;
    // Flash messages for the next request survive a clear: they are not session data.
    if (this.outgoingFlash !== undefined) this.staged.set(FLASH_KEY, { ...this.outgoingFlash });
    this.onStartOver?.('renewed');
  }

  async destroy(): Promise<void> {
    this.use();
    this.assertOpen();
    this.onStartOver?.('ended');
    // No load needed: whatever the store holds under this id goes.
    if (this.exists || !this.trusted) this.doom(false);
    this.startOver();
    this.destroyed = true;
  }

  async drop(): Promise<void> {
    await this.destroy();
    this.dropped = true;
  }

  async regenerate(options?: RegenerateOptions): Promise<void> {
    const keep = keptKeys(options);
    this.use();
    this.assertOpen();
    const generation = this.generation;
    await this.ensureLoaded();
    if (generation !== this.generation) return;
    this.onStartOver?.('renewing');
    // An id the client brought but the store does not hold may still be adoptable: it is
    // marked too (as a destroy would), so a late write cannot start a session under it.
    if (this.exists) this.doom(true);
    else if (!this.trusted) this.doom(false);
    const kept = new Map([...this.values].filter(([key]) => keep === undefined || keep.has(key)));
    // A new CSRF secret with the new id: a token issued before login is worthless after it.
    kept.delete(CSRF_SECRET_KEY);
    const flash = this.outgoingFlash;
    // The user goes along to the new id (the create's write adds it to the user's index), but
    // not into a session started over from listed keys (`keep`): that one belongs to no one yet.
    const binding = keep === undefined ? this.binding : undefined;
    this.startOver();
    this.values = kept;
    for (const [key, value] of kept) this.staged.set(key, value);
    if (flash !== undefined) this.stageFlash(flash);
    this.binding = binding;
    this.onStartOver?.('renewed');
  }

  /** @internal The session's CSRF secret (see `SessionCsrfGuard`), or `undefined` when it has none. */
  async csrfSecret(): Promise<string | undefined> {
    this.use();
    await this.ensureLoaded();
    const current = this.values.get(CSRF_SECRET_KEY);
    return isCsrfSecret(current) ? current : undefined;
  }

  /**
   * @internal The session's CSRF secret; a session without one (an anonymous visitor's
   * included) gets one, staged like a `set`.
   */
  async issueCsrfSecret(): Promise<string> {
    const current = await this.csrfSecret();
    if (current !== undefined) return current;
    this.assertOpen();
    const secret = newCsrfSecret();
    this.stageCopy(CSRF_SECRET_KEY, secret);
    return secret;
  }

  /**
   * @internal For a denial that carries a flash (`redirectTo(url, { flash })`): drops every
   * change the request made and commits `flash` alone, as the next request's flash. A request
   * that destroyed, regenerated or bound its session (`bindUser`) is not taken apart: nothing
   * is committed then, the flash included, as for any denial. Answers whether the flash was kept.
   */
  async keepOnlyFlash(flash: Readonly<Record<string, unknown>>): Promise<boolean> {
    if (this.finalizing !== undefined) return false;
    // A copy per request: a denial kept in a constant is shared by many.
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(flash)) {
      assertSessionKey(key);
      Object.defineProperty(copy, key, { value: cloneSessionValue(key, value), enumerable: true, writable: true, configurable: true });
    }
    this.use();
    await this.ensureLoaded();
    // Started over, or bound to a user: what the denial would have to undo is more than values.
    if (this.generation !== 0 || this.bindingChanged || this.finalizing !== undefined) {
      this.discard();
      return false;
    }
    if (this.loadedValues !== undefined) {
      this.values = this.loadedValues;
      this.size.forget();
    }
    this.loadedValues = undefined;
    // A flash read in this request is spent all the same: the new one takes its place.
    this.resetStaged();
    // Whatever else (a compat `req.session`) would stage at the commit belongs to the denial too.
    this.beforeCommit = undefined;
    this.onStartOver = undefined;
    this.stageFlash(copy);
    try {
      this.persistence.assertFits(this);
    } catch (error) {
      this.discard();
      throw error;
    }
    return true;
  }

  async flash(key: string, value: unknown): Promise<void> {
    assertSessionKey(key);
    this.use();
    this.assertOpen();
    const copy = cloneSessionValue(key, value);
    if (!(await this.loadedUnchanged())) return;
    const previous = this.outgoingFlash;
    this.stageFlash({ ...previous, [key]: copy });
    try {
      this.persistence.assertFits(this);
    } catch (error) {
      if (previous === undefined) {
        this.outgoingFlash = undefined;
        this.staged.delete(FLASH_KEY);
      } else {
        this.stageFlash(previous);
      }
      throw error;
    }
  }

  async getFlash<T = unknown>(key: string): Promise<T | undefined> {
    assertSessionKey(key);
    this.use();
    await this.ensureLoaded();
    return Object.hasOwn(this.incomingFlash, key) ? copyJsonValue(this.incomingFlash[key] as T) : undefined;
  }

  async bindUser(userId: string, metadata?: UserSessionMetadata): Promise<void> {
    assertUserId(userId);
    this.use();
    this.assertOpen();
    // At the call, before any I/O: a store that cannot index says so here, not at the commit.
    this.persistence.assertCanBindUsers();
    const binding = userBinding(userId, metadata, Date.now());
    if (!(await this.loadedUnchanged())) return;
    this.binding = binding;
    this.bindingChanged = true;
    this.staged.set(USER_BINDING_KEY, { ...binding });
  }

  ignoreChanges(): void {
    this.use();
    this.ignoring = true;
  }

  async save(): Promise<void> {
    this.use();
    this.assertOpen();
    this.beforeCommit?.();
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
    if (status < 500) {
      try {
        this.beforeCommit?.();
      } catch {
        // Not idle: `finalize` runs the hook again and fails the commit with its error.
        return false;
      }
    }
    // No load in flight (a finished one leaves `loading` set and `loaded` true), nothing staged
    // or doomed, and no expiry to extend.
    const idle =
      (this.loading === undefined || this.loaded) &&
      this.doomed.length === 0 &&
      this.staged.size === 0 &&
      !this.clearStaged &&
      !(this.loaded && this.exists && isTouchDue(this.createdAt, this.expiresAt, Date.now(), this.deps.options));
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
    const { cookies, options } = this.deps;
    const secure = this.secure();
    if (this.destroyed && !this.exists) return cookies.expired(secure);
    if (!this.cookieDue()) return [];
    // Max-Age (persistent cookies only) is the same remaining lifetime as the store TTL.
    const maxAge = options.cookie.persistent && this.exists ? cookieMaxAge(this.expiresAt, Date.now()) : undefined;
    const lines = [cookies.live(this.persistence.cookieValue(this), maxAge, secure)];
    if (options.keepPublicCookie && this.exists) lines.push(cookies.livePublic(maxAge, secure));
    return lines;
  }

  /** The whole session as a sealed cookie carries it; see `PersistedSession.snapshot`. */
  snapshot(now: number): SealedSession {
    const data = Object.fromEntries(this.values);
    if (this.outgoingFlash !== undefined) {
      Object.defineProperty(data, FLASH_KEY, { value: this.outgoingFlash, enumerable: true, writable: true, configurable: true });
    }
    if (this.binding !== undefined) data[USER_BINDING_KEY] = { ...this.binding };
    const expiresAt = this.exists ? this.expiresAt : now + this.ttl(now);
    return { id: this.currentId, createdAt: this.createdAt, expiresAt, data };
  }

  /** The session's data as one JSON object, in UTF-8 bytes; see `PersistedSession.dataBytes`. */
  dataBytes(): number {
    let entries = this.values.size;
    let bytes = this.size.entryBytes(this.values);
    if (this.outgoingFlash !== undefined) {
      entries++;
      bytes += jsonEntryBytes(FLASH_KEY, this.outgoingFlash);
    }
    return jsonObjectBytes(entries, bytes);
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

  /**
   * Whether this response must (re)send the session cookie: for a new id or an old secret; with
   * a record, also on every use when rolling, and when the expiry moved if the cookie carries it.
   * Before any record exists only an id cookie goes out (it marks the visitor).
   */
  private cookieDue(): boolean {
    const fresh = this.currentId !== this.incoming?.id || this.incoming.stale;
    if (!this.exists) return fresh && this.persistence.cookieWithoutRecord;
    return fresh || (this.deps.options.rolling && this.used) || (this.extended && this.persistence.cookieOnExtend);
  }

  private async runFinalize(status: number): Promise<void> {
    if (status >= 500) {
      this.outcome = 'discarded';
      return;
    }
    try {
      // Runs before the first await, so the changes it stages are still accepted.
      this.beforeCommit?.();
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
    this.currentId = this.deps.options.ids.issue();
    this.currentKey = undefined;
    this.trusted = true;
    this.exists = false;
    this.loaded = true;
    this.loading = undefined;
    this.values = new Map();
    this.loadedValues = undefined;
    this.size.forget();
    this.staged = new Map();
    this.clearStaged = false;
    this.outgoingFlash = undefined;
    this.binding = undefined;
    this.bindingChanged = false;
    this.createdAt = Date.now();
  }

  /** Keeps `values` as loaded before the request's first change to them (one copy per writing request). */
  private keepLoadedValues(): void {
    this.loadedValues ??= new Map(this.values);
  }

  private stageFlash(flash: Record<string, unknown>): void {
    this.outgoingFlash = flash;
    this.staged.set(FLASH_KEY, { ...flash });
  }

  private recordKey(): string {
    this.currentKey ??= this.persistence.recordKey(this.currentId);
    return this.currentKey;
  }

  /**
   * @internal The record keys that are this request's session: the current one, and those a
   * `regenerate()` in this request moves away from (destroyed at its commit).
   */
  ownRecordKeys(): string[] {
    return [this.recordKey(), ...this.doomed.filter((each) => each.moving).map((each) => each.key)];
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
    this.loading ??= this.loadRecord();
    return this.loading;
  }

  private async loadRecord(): Promise<void> {
    const id = this.currentId;
    const key = this.recordKey();
    let record;
    try {
      record = this.incoming?.record === undefined ? await this.persistence.load(key) : await this.admitIncoming(this.incoming.record);
    } catch (error) {
      this.loading = undefined;
      throw error;
    }
    // destroy() or regenerate() ran meanwhile: this answer is about an id we no longer hold.
    if (this.currentId !== id) return;
    const now = Date.now();
    if (record !== undefined && this.reachedAbsoluteTimeout(record, now)) {
      // Past its absolute timeout, the id can no longer be adopted either: no mark needed.
      this.doomed.push({ key, moving: false, markUntil: undefined });
      record = undefined;
    }
    if (record !== undefined && record.expiresAt > now) this.adopt(record);
    this.loaded = true;
  }

  /**
   * A sealed record bound to a user, once the persistence has admitted it: `undefined` when the
   * user logged out everywhere since it was bound, and then the cookie is expired.
   */
  private async admitIncoming(record: StoredSession): Promise<StoredSession | undefined> {
    if (await (this.persistence.admit as (record: StoredSession) => Promise<boolean>)(record)) return record;
    this.destroyed = true;
    return undefined;
  }

  /**
   * @internal Moves the binding's time to `now` and stages it, so the session survives a
   * "valid after" set at `now` (the cookie store's "log out everywhere else").
   */
  async rebindAt(now: number): Promise<void> {
    this.use();
    this.assertOpen();
    if (!(await this.loadedUnchanged()) || this.binding === undefined) return;
    this.binding.since = now;
    this.staged.set(USER_BINDING_KEY, { ...this.binding });
  }

  /** A record that came with the request (a sealed cookie), already opened and checked. */
  private openIncoming(record: StoredSession): void {
    const now = Date.now();
    if (!this.reachedAbsoluteTimeout(record, now) && record.expiresAt > now) this.adopt(record);
  }

  private reachedAbsoluteTimeout(record: StoredSession, now: number): boolean {
    if (!isPastAbsoluteTimeout(record.createdAt, now, this.deps.options)) return false;
    this.deps.logger.debug('Session reached its absolute timeout; starting a new one');
    return true;
  }

  private adopt(record: StoredSession): void {
    this.values = record.data;
    this.size.loaded(record.data.size, record.jsonBytes);
    this.binding = readUserBinding(this.values);
    if (this.values.has(USER_BINDING_KEY)) {
      // Not session data: kept apart, and out of the session's measured size.
      this.size.delete(USER_BINDING_KEY, true, this.values.get(USER_BINDING_KEY));
      this.values.delete(USER_BINDING_KEY);
    }
    this.exists = true;
    this.trusted = true;
    this.createdAt = record.createdAt;
    this.expiresAt = record.expiresAt;
    if (this.values.has(FLASH_KEY)) {
      const flash = this.values.get(FLASH_KEY);
      this.size.delete(FLASH_KEY, true, flash);
      this.values.delete(FLASH_KEY);
      this.incomingFlash = isPlainObject(flash) ? flash : {};
      // Shown once: gone after this request unless it leaves new messages.
      this.staged.set(FLASH_KEY, REMOVED);
    }
  }

  /** Runs store writes one after another, so `save()` and the final commit never interleave. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.writing === undefined ? work() : this.writing.then(work);
    this.writing = next.then(
      () => undefined,
      () => undefined,
    );
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
      // A bound session's touch is a write of its binding: lastSeenAt moves with the idle timeout.
      if (this.binding === undefined || !this.exists || !isTouchDue(this.createdAt, this.expiresAt, now, this.deps.options)) {
        await this.touchIfDue(now);
        return;
      }
    }
    if (this.exists) await this.writeUpdate(now);
    else await this.writeCreate(now);
  }

  /**
   * Queues the current record's removal for the commit. An id this application issued could be
   * adopted by a late write (one that found no record) for a while: the removal marks the key
   * until then (`markUntil`), so neither a logout nor a regenerate is ever undone that way.
   */
  private doom(moving: boolean): void {
    this.doomed.push({ key: this.recordKey(), moving, markUntil: this.persistence.markUntil(this.currentId, Date.now()) });
  }

  private async destroyDoomed(): Promise<void> {
    while (this.doomed.length > 0) {
      const { key, moving, markUntil } = this.doomed[0];
      const removed = await this.persistence.remove(key, markUntil);
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
    const set = new Map(this.values);
    const flash = this.staged.get(FLASH_KEY);
    if (flash !== undefined && flash !== REMOVED) set.set(FLASH_KEY, flash);
    this.resetStaged();
    const issuedAt = this.trusted ? undefined : this.persistence.issuedAt(this.currentId, now);
    // Plug's strict rule: never adopt an id the client brought that this application did not
    // issue (or whose adoption window, one idle timeout from its issue, has passed) and the
    // store does not hold.
    if (!this.trusted && issuedAt === undefined) this.mintFresh(now);
    if (set.size === 0 && this.binding === undefined) return;
    if (issuedAt !== undefined && (await this.adoptFirstWrite(set, issuedAt, now))) return;
    const ttl = this.ttl(now);
    const user = this.stageBinding(set, now);
    await this.persistence.write(this.recordKey(), { mode: 'create', set, delete: [], clear: false, createdAt: this.createdAt, ttl, user });
    this.exists = true;
    this.expiresAt = now + ttl;
    this.extended = true;
  }

  /** Gives the session a new id of this request's minting: nothing was written under the old one. */
  private mintFresh(now: number): void {
    this.currentId = this.deps.options.ids.issue(now);
    this.currentKey = undefined;
    this.trusted = true;
    this.createdAt = now;
  }

  /**
   * The first write of an id this application issued to a new visitor (Nova keeps the id it
   * issued): the store creates the record, or merges this request's keys into the one a
   * parallel first write created, so parallel first writes make one session. Its absolute
   * timeout counts from the issue time, which every such write agrees on, so an id whose
   * session expired is never revived for longer than the id was ever good for. Resolves
   * `false`, having minted a fresh id, when the store refuses: the id was destroyed (or
   * revoked) since it was issued, and a destroyed id never comes back.
   */
  private async adoptFirstWrite(set: Map<string, unknown>, issuedAt: number, now: number): Promise<boolean> {
    const adopt = this.persistence.adopt as NonNullable<SessionPersistence['adopt']>;
    this.createdAt = issuedAt;
    const ttl = this.ttl(now);
    const user = this.stageBinding(set, now);
    const change: SessionWrite = { mode: 'create', set, delete: [], clear: false, createdAt: issuedAt, ttl, user };
    if (!(await adopt.call(this.persistence, this.recordKey(), change))) {
      this.deps.logger.debug('A first write carried an id that was destroyed since it was issued; starting a new session');
      this.mintFresh(now);
      return false;
    }
    this.trusted = true;
    this.exists = true;
    this.expiresAt = now + ttl;
    this.extended = true;
    return true;
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
    const user = this.stageBinding(set, now);
    const written = await this.persistence.write(this.recordKey(), {
      mode: 'update',
      set,
      delete: removed,
      clear,
      createdAt: this.createdAt,
      ttl,
      user,
    });
    if (!written) {
      this.lostToConcurrentDestroy();
      return;
    }
    this.expiresAt = now + ttl;
    this.extended = true;
  }

  private async touchIfDue(now: number): Promise<void> {
    if (!this.exists || !isTouchDue(this.createdAt, this.expiresAt, now, this.deps.options)) return;
    const ttl = this.ttl(now);
    if (!(await this.persistence.touch(this.recordKey(), ttl))) return;
    this.expiresAt = now + ttl;
    this.extended = true;
  }

  /**
   * A bound session's every write carries its binding with `seenAt` moved to `now` (so a clear
   * keeps it, and lastSeenAt follows writes and touches). Resolves the index entry the store
   * must add: on a create (a login, a regenerate) and on the write after `bindUser`.
   */
  private stageBinding(set: Map<string, unknown>, now: number): SessionWrite['user'] {
    const binding = this.binding;
    if (binding === undefined) return undefined;
    binding.seenAt = now;
    set.set(USER_BINDING_KEY, { ...binding });
    const indexed = !this.exists || this.bindingChanged;
    this.bindingChanged = false;
    return indexed ? { userId: binding.id, deadline: this.createdAt + this.deps.options.absoluteTimeoutMs } : undefined;
  }

  private resetStaged(): void {
    this.staged = new Map();
    this.clearStaged = false;
  }

  /** Store TTL in ms from `now`; see `sessionTtl`. */
  private ttl(now: number): number {
    return sessionTtl(this.createdAt, now, this.deps.options);
  }

  private secure(): boolean {
    const secure = this.deps.options.cookie.secure;
    return secure === 'auto' ? this.isSecureRequest() : secure;
  }
}
