import { Injectable } from '@nestjs/common';
import { isWellFormedSessionId, sessionStoreKey } from './cookie/session-id.js';
import type { Session, SessionData, SessionKey, SessionValue } from './session/session.interface.js';
import type { SessionUpdateOptions } from './session/session-update.js';
import { SessionManager, isLiveSession } from './request/session.manager.js';
import { SessionsDisabledError } from './session.exceptions.js';
import { maskCsrfSecret } from './security/csrf-token.js';
import { withDeadline } from './persistence/store-deadline.js';
import { UserSessionIndex } from './users/user-index.js';
import type { UserSessionInfo } from './users/user-sessions.js';

/**
 * Sessions for code that holds the request rather than a `@Session()` parameter: Nova's
 * functional API (`get(req, key)`, `set(req, key, value)`, `delete(req)`, `delete(req, key)`),
 * plus id generation and revocation by id.
 */
@Injectable()
export class SessionService {
  /** A user's sessions over the configured store (`bindUser`). */
  private readonly users: UserSessionIndex;

  constructor(protected readonly sessions: SessionManager) {
    this.users = new UserSessionIndex(sessions);
  }

  /**
   * A new session id, as the module issues them: 32 bytes, base64url (43 characters), 160 of
   * its bits random, the rest its issue time and a tag by which this application recognises
   * it (see "Strict ids" in the README).
   */
  generateSessionId(): string {
    return this.sessions.options.ids.issue();
  }

  /** The request's session handle (the same one `@Session()` injects). */
  getSession(request: object): Session {
    return this.sessions.sessionOf(request);
  }

  /** The value of `key` in the request's session. */
  get<K extends keyof SessionData & string>(request: object, key: K): Promise<SessionData[K] | undefined>;
  get<T = unknown>(request: object, key: string): Promise<T | undefined>;
  get(request: object, key: string): Promise<unknown> {
    return this.getSession(request).get(key);
  }

  /** Stages `value` under `key` in the request's session. */
  set<K extends string>(request: object, key: K, value: SessionValue<K>): Promise<void> {
    return this.getSession(request).set(key, value);
  }

  /** Changes one key of the request's session atomically; see `Session.update`. */
  update<K extends SessionKey>(
    request: object,
    key: K,
    fn: (current: SessionData[K] | undefined) => SessionData[K],
    options?: SessionUpdateOptions,
  ): Promise<SessionData[K] | undefined>;
  update<T = unknown>(
    request: object,
    key: string,
    fn: (current: T | undefined) => T,
    options?: SessionUpdateOptions,
  ): Promise<T | undefined>;
  update(request: object, key: string, fn: (current: unknown) => unknown, options?: SessionUpdateOptions): Promise<unknown> {
    return this.getSession(request).update(key, fn, options);
  }

  /** Adds `by` (default 1) to a number in the request's session atomically; see `Session.increment`. */
  increment(request: object, key: string, by?: number): Promise<number | undefined> {
    return this.getSession(request).increment(key, by);
  }

  /** With a key, removes that key (Nova `delete/2`); without, destroys the session (Nova `delete/1`). */
  delete(request: object, key?: string): Promise<void> {
    const session = this.getSession(request);
    return key === undefined ? session.destroy() : session.delete(key);
  }

  /**
   * A CSRF token for the request's session, for `SessionCsrfGuard`: put it in a form as the
   * `_csrf` field, or hand it to a script that sends it as the `x-csrf-token` header. The
   * session's secret is made (and staged, like a `set`) on the first call, for an anonymous
   * session too; each call masks it afresh, so no two responses carry the same string, and
   * every token of the session stays valid until its secret changes (`regenerate()` at login,
   * `clear()`, `destroy()`). Throws `SessionAlreadyCommittedError` once the response is on its
   * way (the secret could not be stored), `SessionsDisabledError` with sessions off.
   */
  async csrfToken(request: object): Promise<string> {
    const session = this.getSession(request);
    if (!isLiveSession(session)) throw new SessionsDisabledError();
    return maskCsrfSecret(await session.issueCsrfSecret());
  }

  /**
   * Ends the session with this id wherever it is used (an admin action, a password change).
   * A malformed id is ignored: it cannot name a session. A store that does not answer within
   * `storeTimeout` rejects it with `SessionStoreTimeoutError`.
   */
  async revoke(sessionId: string): Promise<void> {
    if (!isWellFormedSessionId(sessionId)) return;
    const key = sessionStoreKey(sessionId);
    const store = this.sessions.store;
    // An id that could still be adopted at a first write is kept from it until it could not.
    const now = Date.now();
    const markUntil = this.sessions.persistence.markUntil(sessionId, now);
    const markTtl = markUntil === undefined ? 0 : markUntil - now;
    await withDeadline(() => (markTtl > 0 ? store.destroy(key, markTtl) : store.destroy(key)), this.sessions.options.storeTimeoutMs);
  }

  /**
   * The live sessions bound to `userId` (see `session.bindUser`), oldest first; with `request`,
   * the one of that request is marked `current`. Expired and destroyed sessions are not listed.
   * Throws `SessionUserIndexUnsupportedError` when the store keeps no per-user index, and
   * `SessionStoreUnavailableException` (a 503) when the store does not answer within `storeTimeout`.
   */
  listUserSessions(userId: string, request?: object): Promise<UserSessionInfo[]> {
    return this.users.list(userId, request);
  }

  /**
   * Ends one of the user's sessions, named by the `handle` that `listUserSessions` gave: its
   * next request finds no session (on every node, near-caches included). Resolves `false` when
   * no live session of this user has that handle (already ended, or another user's).
   */
  revokeUserSession(userId: string, handle: string): Promise<boolean> {
    return this.users.revokeOne(userId, handle);
  }

  /**
   * Ends every session of the user ("log out everywhere", e.g. after a password change), or
   * with `except: request` every one but that request's ("log out other devices"). Resolves how
   * many were ended.
   *
   * With `CookieStore` and its `revocation` store, sealed sessions cannot be counted or found:
   * the user's "valid after" moves to now instead (one write), so every sealed session of the
   * user bound before it is refused from its next request on, every copy included; `except`
   * re-seals the request's session with the new time. Resolves `0` then.
   */
  revokeUserSessions(userId: string, options: { except?: object } = {}): Promise<number> {
    return this.users.revokeAll(userId, options.except);
  }
}
