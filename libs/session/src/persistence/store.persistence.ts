import type { Logger } from '@nestjs/common';
import type { SessionIdSigner } from '../cookie/id-signer.js';
import { isWellFormedSessionId, sessionStoreKey } from '../cookie/session-id.js';
import { SessionStoreUnavailableException, SessionTooLargeError, SessionUpdateUnsupportedError } from '../session.exceptions.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { KeyLock } from '../stores/key-lock.js';
import type { CompareAndSetResult, SessionStore, SessionWrite, StoredSession } from '../stores/session.store.js';
import type { IncomingSession, PersistedSession, SessionPersistence } from './session-persistence.js';
import { withDeadline } from './store-deadline.js';
import { assertUserIndex } from '../users/user-index.js';
import { StoreFailureLog } from './store-failure.log.js';
import { RejectedCookieLog } from './rejected-cookie.log.js';
import { adoptionWindowEnd, type SessionIdIssuer } from '../cookie/session-id-issuer.js';

/** `<id>.<signature>`: what a signed cookie looks like before its signature is checked. */
const SIGNED_SHAPE = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/;

/**
 * Records in a server-side `SessionStore`, keyed by the SHA-256 of the id; the cookie carries
 * the id (signed when a secret is configured). Every store call runs under the `storeTimeout`
 * deadline, so a store that stops answering fails like one that refuses the connection. Maps
 * every store failure, the deadline included, to a `SessionStoreUnavailableException`, logged
 * in aggregate (`StoreFailureLog`), without the id or key in the log line. Internal.
 */
export class StorePersistence implements SessionPersistence {
  readonly cookieWithoutRecord = true;
  readonly cookieOnExtend: boolean;
  private readonly signer: SessionIdSigner | undefined;
  private readonly maxSessionBytes: number | undefined;
  private readonly timeoutMs: number;
  private readonly failures: StoreFailureLog;
  /** @internal Refused cookies, reported in aggregate. */
  readonly rejected: RejectedCookieLog;
  private readonly ids: SessionIdIssuer;
  private readonly idleTimeoutMs: number;
  /** One `session.update` of a field at a time in this process (see `inTurn`). */
  private readonly updates = new KeyLock();

  constructor(
    private readonly store: SessionStore,
    options: ResolvedSessionOptions,
    private readonly logger: Logger,
  ) {
    this.signer = options.signer;
    this.maxSessionBytes = options.maxSessionBytes;
    this.timeoutMs = options.storeTimeoutMs;
    this.failures = new StoreFailureLog(logger);
    this.rejected = new RejectedCookieLog(logger);
    this.ids = options.ids;
    this.idleTimeoutMs = options.idleTimeoutMs;
    // A browser-session cookie carries no expiry, so only a persistent one (or renew, which
    // promises a fresh cookie) has to follow the store's.
    this.cookieOnExtend = options.cookie.persistent || options.renew !== undefined;
  }

  decode(value: string): IncomingSession | undefined {
    const signer = this.signer;
    if (signer !== undefined) {
      const verified = signer.unsign(value);
      if (verified === undefined) {
        // For the log's count only: a value of the signed shape was tampered with or signed
        // under a secret we do not hold; anything else is garbage.
        const reason = SIGNED_SHAPE.test(value) ? 'bad signature' : 'malformed';
        return this.ignored('a session cookie with a bad signature', reason);
      }
      return verified;
    }
    if (!isWellFormedSessionId(value)) return this.ignored('a malformed session cookie', 'malformed');
    return { id: value, stale: false };
  }

  recordKey(id: string): string {
    return sessionStoreKey(id);
  }

  async load(key: string): Promise<StoredSession | undefined> {
    try {
      return await withDeadline(() => this.store.get(key), this.timeoutMs);
    } catch (error) {
      throw this.unavailable('load', error);
    }
  }

  async write(key: string, change: SessionWrite): Promise<boolean> {
    try {
      return await withDeadline(() => this.store.write(key, change), this.timeoutMs);
    } catch (error) {
      throw this.unavailable('write', error);
    }
  }

  async touch(key: string, ttl: number): Promise<boolean> {
    try {
      return await withDeadline(() => this.store.touch(key, ttl), this.timeoutMs);
    } catch (error) {
      throw this.unavailable('touch', error);
    }
  }

  async remove(key: string, markUntil?: number): Promise<boolean | void> {
    const store = this.store;
    // A mark only matters where ids are adopted, and only until the id could be adopted no more.
    const markTtl = markUntil === undefined || store.adopt === undefined ? 0 : markUntil - Date.now();
    try {
      return await withDeadline(() => (markTtl > 0 ? store.destroy(key, markTtl) : store.destroy(key)), this.timeoutMs);
    } catch (error) {
      throw this.unavailable('destroy', error);
    }
  }

  /**
   * An id this application issued may be adopted by its first write within one idle timeout of
   * its issue time (a session written at or after that time would have idled out by then, so
   * an id whose session expired is never revived), and only on a store that can adopt.
   */
  issuedAt(id: string, now: number): number | undefined {
    if (this.store.adopt === undefined) return undefined;
    const issuedAt = this.ids.issuedAt(id, now);
    if (issuedAt === undefined || issuedAt + this.idleTimeoutMs <= now) return undefined;
    return issuedAt;
  }

  /**
   * Until when the removal of `id`'s record must keep its key from adoption: the end of the
   * id's adoption window, plus the clock skew allowed between nodes. Without a shared secret
   * another process may have issued an id this one does not recognise, so any well-formed id
   * is marked for one window from now. `undefined` where nothing can be adopted.
   */
  markUntil(id: string, now: number): number | undefined {
    if (this.store.adopt === undefined) return undefined;
    const issuedAt = this.ids.issuedAt(id, now) ?? (this.ids.shared || !isWellFormedSessionId(id) ? undefined : now);
    if (issuedAt === undefined) return undefined;
    const until = adoptionWindowEnd(issuedAt, this.idleTimeoutMs);
    return until > now ? until : undefined;
  }

  async adopt(key: string, change: SessionWrite): Promise<boolean> {
    const store = this.store;
    const adopt = store.adopt as NonNullable<SessionStore['adopt']>;
    try {
      return await withDeadline(() => adopt.call(store, key, change), this.timeoutMs);
    } catch (error) {
      throw this.unavailable('write', error);
    }
  }

  assertCanBindUsers(): void {
    assertUserIndex(this.store);
  }

  /**
   * The cookie only carries the id; the record is held to `maxSessionBytes`, checked at each
   * change (`set`, `flash`) so that an oversized one is refused before anything is committed.
   */
  assertFits(session: PersistedSession): void {
    const limit = this.maxSessionBytes;
    if (limit === undefined) return;
    const size = session.dataBytes();
    if (size > limit) throw new SessionTooLargeError(size, limit, 'store');
  }

  /** The atomic per-key update; a store without `compareAndSet` is a programming error, not a 503. */
  async compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    const store = this.store;
    const compareAndSet = store.compareAndSet;
    if (typeof compareAndSet !== 'function') throw new SessionUpdateUnsupportedError(store.constructor.name);
    try {
      return await withDeadline(() => compareAndSet.call(store, key, field, expected, next, ttl), this.timeoutMs);
    } catch (error) {
      throw this.unavailable('update', error);
    }
  }

  /**
   * Updates of one field from requests on this node take turns, so they never refuse each
   * other at the store: only updates from other nodes can. Measured with 100 concurrent
   * increments on a MemoryStore: about 1,700 refused attempts and 600 ms without turns,
   * about 100 (each update's first, made with the value its request had loaded) with them.
   * An update waits for its turn at most `storeTimeout`, then goes ahead anyway (the
   * compare-and-set keeps it correct): a stalled store never makes a queue of updates wait
   * one deadline each.
   */
  async inTurn<T>(key: string, field: string, work: () => Promise<T>): Promise<T> {
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    let timer: NodeJS.Timeout | undefined;
    const turn = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs);
      void this.updates.run(`${key}\u0000${field}`, () => {
        resolve();
        return done;
      });
    });
    await turn;
    clearTimeout(timer);
    try {
      return await work();
    } finally {
      finished();
    }
  }

  cookieValue(session: PersistedSession): string {
    const signer = this.signer;
    return signer === undefined ? session.id : signer.sign(session.id);
  }

  private ignored(what: string, reason: string): undefined {
    this.logger.debug(`Ignoring ${what}`);
    this.rejected.record(reason);
    return undefined;
  }

  private unavailable(operation: string, error: unknown): SessionStoreUnavailableException {
    const reason = error instanceof Error ? error.message : String(error);
    this.failures.record(operation, reason);
    return new SessionStoreUnavailableException({ cause: error });
  }
}
