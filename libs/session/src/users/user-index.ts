import { adoptionWindowEnd } from '../cookie/session-id-issuer.js';
import { withDeadline } from '../persistence/store-deadline.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';
import type { SessionStore, UserSessionRecord } from '../stores/session.store.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import { isLiveSession, type SessionManager } from '../request/session.manager.js';
import type { CookieRevocation } from './cookie-revocation.js';
import {
  assertUserId,
  SessionUserIndexUnsupportedError,
  type UserSessionInfo,
  userSessionHandle,
  userSessionInfo,
} from './user-sessions.js';

const NONE: ReadonlySet<string> = new Set();

/** A store that keeps a per-user index. */
type IndexedStore = SessionStore & Required<Pick<SessionStore, 'listByUser'>>;

/** How the error names a store that has no index: the way the application created it. */
const STORE_NAMES: Record<string, string> = {
  NovaStore: 'The Nova-style store adapter (fromNovaStore)',
  ExpressSessionStoreAdapter: 'The express-session store adapter (fromExpressSessionStore)',
  CookieStore: 'CookieStore',
};

function storeName(store: SessionStore): string {
  const name = (store as { constructor?: { name?: string } }).constructor?.name ?? 'This session store';
  return STORE_NAMES[name] ?? name;
}

/** Throws `SessionUserIndexUnsupportedError`, naming the store, unless it has `listByUser`. */
export function assertUserIndex(store: SessionStore): asserts store is IndexedStore {
  if (typeof store.listByUser !== 'function') throw new SessionUserIndexUnsupportedError(storeName(store));
}

/**
 * `SessionService`'s calls for a user's sessions, over the configured store: every store call
 * under the `storeTimeout` deadline, and a store failure (the deadline included) a
 * `SessionStoreUnavailableException`, a 503 like any session call's. Internal.
 */
export class UserSessionIndex {
  private readonly store: SessionStore;
  private readonly timeoutMs: number;

  constructor(private readonly sessions: SessionManager) {
    this.store = sessions.store;
    this.timeoutMs = sessions.options.storeTimeoutMs;
  }

  async list(userId: string, request: object | undefined): Promise<UserSessionInfo[]> {
    const current = request === undefined ? NONE : this.currentKeys(request);
    const records = await this.records(userId);
    return records.map((record) => userSessionInfo(record, current)).sort((a, b) => a.createdAt - b.createdAt);
  }

  async revokeOne(userId: string, handle: string): Promise<boolean> {
    if (typeof handle !== 'string') return false;
    const record = (await this.records(userId)).find((each) => userSessionHandle(each.key) === handle);
    if (record === undefined) return false;
    return (await this.destroy([record])) === 1;
  }

  async revokeAll(userId: string, except: object | undefined): Promise<number> {
    const store = this.store;
    if (store instanceof CookieStore && store.revocation !== undefined) {
      assertUserId(userId);
      await this.revokeSealed(store.revocation, userId, except);
      return 0;
    }
    const kept = except === undefined ? NONE : this.currentKeys(except);
    const records = (await this.records(userId)).filter((record) => !kept.has(record.key));
    return this.destroy(records);
  }

  /**
   * Sealed sessions cannot be found, so they are outdated instead: the user's "valid after"
   * moves to now, and the excepted request's session (when it is the user's) is bound anew at
   * that same time and re-sealed into its response.
   */
  private async revokeSealed(revocation: CookieRevocation, userId: string, except: object | undefined): Promise<void> {
    const now = Date.now();
    const current = except === undefined ? undefined : this.sessions.sessionOf(except);
    if (current !== undefined && isLiveSession(current)) {
      await current.load();
      if (current.userId === userId) await current.rebindAt(now);
    }
    await this.call(() => revocation.revokeBefore(userId, now, this.sessions.options.absoluteTimeoutMs));
  }

  /**
   * The record keys of the request's session: its current one and, after a `regenerate()` in
   * this request, the one it is moving away from (still stored until the request commits), so
   * "all but this one" right after a renewal keeps this device.
   */
  private currentKeys(request: object): ReadonlySet<string> {
    const session = this.sessions.sessionOf(request);
    return new Set(isLiveSession(session) ? session.ownRecordKeys() : [this.sessions.persistence.recordKey(session.id)]);
  }

  private async records(userId: string): Promise<UserSessionRecord[]> {
    assertUserId(userId);
    const store = this.store;
    assertUserIndex(store);
    return this.call(() => store.listByUser(userId));
  }

  /**
   * Destroys the records in parallel, through the persistence as a logout would (deadline,
   * 503, destroy mark); resolves how many were live. Each key is marked for what is left of its
   * id's adoption window, counted from the record's creation, so a late first write carrying a
   * revoked id cannot adopt it again.
   */
  private async destroy(records: UserSessionRecord[]): Promise<number> {
    const { persistence, options } = this.sessions;
    const results = await Promise.all(
      records.map(({ key, session }) => persistence.remove(key, adoptionWindowEnd(session.createdAt, options.idleTimeoutMs))),
    );
    // A store that cannot tell (void) still removed it.
    return results.filter((removed) => removed !== false).length;
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await withDeadline(work, this.timeoutMs);
    } catch (error) {
      throw new SessionStoreUnavailableException({ cause: error });
    }
  }
}
