import { CookieSealer } from '../../cookie/cookie-sealer.js';
import { SessionStore, type SessionWrite, type StoredSession } from '../session.store.js';
import { SessionOptionsError } from '../../session.exceptions.js';
import { CookieRevocation } from '../../users/cookie-revocation.js';

/** Options of the stateless cookie store. */
export interface CookieStoreOptions {
  /**
   * Secrets the seal keys are derived from (HKDF-SHA256), each at least 32 bytes. The first
   * seals; all open, and a cookie sealed under an older secret is re-sealed under the first,
   * so secrets rotate without logging anyone out. Removing a secret invalidates its cookies.
   */
  secret: string | readonly string[];
  /**
   * A server-side store (a `MemoryStore`, `RedisStore` or `PostgresStore`) that keeps, per user,
   * a "valid after" time, so that "log out everywhere" reaches sealed cookies:
   * `SessionService.revokeUserSessions(userId)` sets it to now, and from then on a sealed
   * session bound to that user (`bindUser`) before that time is refused, every copy of it
   * included. Its cost: one read of that store per request that uses a bound session (unbound
   * sessions cost nothing), failing with a 503 like any store when it does not answer. Without
   * it, `bindUser` throws `SessionUserIndexUnsupportedError`. Default: none.
   */
  revocation?: SessionStore;
}

const NOT_A_KEYED_STORE =
  'CookieStore keeps each session inside its cookie; it has no records to address by key, so sessions cannot be revoked by id';

/**
 * Stateless sessions: the whole session sealed into the cookie with AES-256-GCM (keys derived
 * by HKDF, key id in the token, rotation), the expiry inside the sealed payload, and a session
 * over 4096 bytes refused at `set` with `SessionTooLargeError`. Nothing is stored server-side,
 * which has a price: a copied cookie stays valid until it expires, and `destroy()` or
 * `regenerate()` cannot kill a copy. Check a per-user "valid after" time in a security
 * function where that matters.
 *
 * The module recognises this store at start-up and keeps each session in its cookie, so the
 * keyed methods below are never part of a request; they reject, since there are no records to
 * address by key (which is also why `SessionService.revoke` cannot reach a cookie session).
 */
export class CookieStore extends SessionStore {
  /** @internal Seals and opens session cookies; the module hands it to `SealedCookiePersistence`. */
  readonly sealer: CookieSealer;
  /** @internal The per-user "valid after" times (`revocation` option), when given. */
  readonly revocation: CookieRevocation | undefined;

  constructor(options: CookieStoreOptions) {
    super();
    this.sealer = new CookieSealer(options.secret);
    const revocation = options.revocation;
    if (revocation !== undefined) {
      if (revocation instanceof CookieStore || typeof revocation?.get !== 'function' || typeof revocation.write !== 'function') {
        throw new SessionOptionsError(
          'CookieStore revocation must be a server-side SessionStore (MemoryStore, RedisStore or PostgresStore), not a CookieStore',
        );
      }
    }
    this.revocation = revocation === undefined ? undefined : new CookieRevocation(revocation);
  }

  get(_key: string): Promise<StoredSession | undefined> {
    return Promise.reject(new Error(NOT_A_KEYED_STORE));
  }

  write(_key: string, _change: SessionWrite): Promise<boolean> {
    return Promise.reject(new Error(NOT_A_KEYED_STORE));
  }

  touch(_key: string, _ttl: number): Promise<boolean> {
    return Promise.reject(new Error(NOT_A_KEYED_STORE));
  }

  destroy(_key: string): Promise<void> {
    return Promise.reject(new Error(NOT_A_KEYED_STORE));
  }

  /**
   * The secrets were checked when the store was built; what is left to reach is the
   * `revocation` store, checked as it would be checked on its own.
   */
  override async check(timeoutMs: number): Promise<void> {
    await this.revocation?.store.check?.(timeoutMs);
  }
}
