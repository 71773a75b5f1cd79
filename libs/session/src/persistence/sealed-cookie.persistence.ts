import type { Logger } from '@nestjs/common';
import type { CookieSealer } from '../cookie/cookie-sealer.js';
import { COOKIE_SIZE_LIMIT, type SessionCookieWriter } from '../cookie/session-cookie.js';
import { SessionTooLargeError } from '../session.exceptions.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { cookieMaxAge } from '../session/session-expiry.js';
import type { SessionWrite, StoredSession } from '../stores/session.store.js';
import type { IncomingSession, PersistedSession, SessionPersistence } from './session-persistence.js';
import { readUserBinding, SessionUserIndexUnsupportedError } from '../users/user-sessions.js';
import type { CookieRevocation } from '../users/cookie-revocation.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';
import { withDeadline } from './store-deadline.js';
import { RejectedCookieLog } from './rejected-cookie.log.js';

/** Every write, touch and removal succeeds at once: the record goes out with the response. */
const DONE = Promise.resolve(true);
const NOTHING = Promise.resolve(undefined);

/**
 * The record sealed into the cookie (`CookieStore`): opened from the request's cookie, sealed
 * again into the response's. There is no store I/O, so writes, touches and removals only
 * succeed, and nothing can fail with a 503. A session whose cookie would be over the browsers'
 * 4096-byte limit is refused at the change that would make it so, never truncated. Internal.
 */
export class SealedCookiePersistence implements SessionPersistence {
  readonly cookieWithoutRecord = false;
  readonly cookieOnExtend = true;
  private readonly persistent: boolean;
  private readonly timeoutMs: number;
  /** @internal Refused cookies, reported in aggregate. */
  readonly rejected: RejectedCookieLog;

  constructor(
    private readonly sealer: CookieSealer,
    options: ResolvedSessionOptions,
    private readonly cookies: SessionCookieWriter,
    private readonly logger: Logger,
    /** The per-user "valid after" times (`CookieStore`'s `revocation` option), when given. */
    private readonly revocation?: CookieRevocation,
  ) {
    this.persistent = options.cookie.persistent;
    this.timeoutMs = options.storeTimeoutMs;
    this.rejected = new RejectedCookieLog(logger);
  }

  decode(value: string, now: number): IncomingSession | undefined {
    const opened = this.sealer.open(value, now);
    if (opened === undefined) {
      this.logger.debug('Ignoring an invalid or expired sealed session cookie');
      this.rejected.record('not sealed by us, tampered with or expired');
      return undefined;
    }
    const { session, stale } = opened;
    // Object.entries reads own properties only: a key named __proto__ stays data.
    const record: StoredSession = {
      data: new Map(Object.entries(session.data)),
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
    };
    return { id: session.id, stale, record };
  }

  /** The record has no address of its own: the id stands for it, unhashed (nothing stores it). */
  recordKey(id: string): string {
    return id;
  }

  /** Never asked: the record arrives with the request (`IncomingSession.record`). */
  load(): Promise<StoredSession | undefined> {
    return NOTHING;
  }

  write(_key: string, _change: SessionWrite): Promise<boolean> {
    return DONE;
  }

  touch(_key: string, _ttl: number): Promise<boolean> {
    return DONE;
  }

  /** A sealed session is never adopted: a new visitor has no cookie until its first write. */
  issuedAt(): undefined {
    return undefined;
  }

  /** Nothing is adopted, so nothing needs a mark. */
  markUntil(): undefined {
    return undefined;
  }

  /** Nothing to remove: a destroyed session's cookie is expired instead (a copy stays valid). */
  remove(_key: string): Promise<boolean | void> {
    return NOTHING;
  }

  /** A sealed session has no record a server could find by user; with `revocation`, it can be revoked per user. */
  assertCanBindUsers(): void {
    if (this.revocation === undefined) {
      throw new SessionUserIndexUnsupportedError(
        'CookieStore',
        'CookieStore cannot bind sessions to users without a server-side store for revocation: pass new CookieStore({ secret, revocation: <a MemoryStore, RedisStore or PostgresStore> }), or keep sessions in one of those stores',
      );
    }
  }

  /**
   * With `revocation`: a sealed session bound to a user counts only when it was bound at or
   * after the user's "valid after" time. One store read, under the `storeTimeout` deadline;
   * a store that does not answer fails the request with a 503 (closed, never open).
   */
  async admit(record: StoredSession): Promise<boolean> {
    const revocation = this.revocation;
    const binding = readUserBinding(record.data);
    if (revocation === undefined || binding === undefined) return true;
    let validAfter: number;
    try {
      validAfter = await withDeadline(() => revocation.validAfter(binding.id), this.timeoutMs);
    } catch (error) {
      this.logger.warn(`CookieStore revocation store failed: ${error instanceof Error ? error.message : String(error)}`);
      throw new SessionStoreUnavailableException({ cause: error });
    }
    if (binding.since >= validAfter) return true;
    this.logger.debug('Ignoring a sealed session of a user who logged out everywhere since');
    return false;
  }

  assertFits(session: PersistedSession): void {
    const now = Date.now();
    const payload = session.snapshot(now);
    const maxAge = this.persistent && !session.isNew ? cookieMaxAge(payload.expiresAt, now) : 0;
    // The sealed value is base64url, so the line is the line without it plus its length.
    const size = this.sealer.sealedLength(payload) + Buffer.byteLength(this.cookies.live('', maxAge, true));
    if (size > COOKIE_SIZE_LIMIT) throw new SessionTooLargeError(size, COOKIE_SIZE_LIMIT, 'cookie');
  }

  cookieValue(session: PersistedSession): string {
    return this.sealer.seal(session.snapshot(Date.now()));
  }
}
