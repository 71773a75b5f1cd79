import { createHash } from 'node:crypto';
import type { SessionStore } from '../stores/session.store.js';

/** The field of a revocation record that holds the time, ms since the epoch. */
const VALID_AFTER = 'validAfter';

/**
 * A per-user "valid after" time kept in a server-side store, for `CookieStore`'s `revocation`
 * option: a sealed session bound to a user (`bindUser`) counts only when it was bound at or
 * after that time, so "log out everywhere" reaches every copy of every sealed cookie of the
 * user. One record per user that ever logged out everywhere, under
 * `revocation:<SHA-256 of the user id>`, expiring after the absolute timeout (by then every
 * session bound before it has ended anyway). Internal.
 */
export class CookieRevocation {
  constructor(
    /** The server-side store the times are kept in. */
    readonly store: SessionStore,
  ) {}

  private key(userId: string): string {
    return `revocation:${createHash('sha256').update(userId).digest('base64url')}`;
  }

  /** One store read: the user's "valid after" time, or 0 when the user never logged out everywhere. */
  async validAfter(userId: string): Promise<number> {
    const record = await this.store.get(this.key(userId));
    const value = record?.data.get(VALID_AFTER);
    return typeof value === 'number' ? value : 0;
  }

  /** One store write: sessions of the user bound before `at` no longer count. Kept `ttl` ms. */
  async revokeBefore(userId: string, at: number, ttl: number): Promise<void> {
    await this.store.write(this.key(userId), {
      mode: 'create',
      set: new Map([[VALID_AFTER, at]]),
      delete: [],
      clear: false,
      createdAt: at,
      ttl,
    });
  }
}
