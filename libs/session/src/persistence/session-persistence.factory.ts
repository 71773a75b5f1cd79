import type { Logger } from '@nestjs/common';
import type { SessionCookieWriter } from '../cookie/session-cookie.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import type { SessionStore } from '../stores/session.store.js';
import { SealedCookiePersistence } from './sealed-cookie.persistence.js';
import type { SessionPersistence } from './session-persistence.js';
import { StorePersistence } from './store.persistence.js';

/**
 * Picks where the application's session records live, once, at start-up: inside the cookie for
 * a `CookieStore` (which only carries the sealing secrets), in the store for any other. Internal.
 */
export function createSessionPersistence(
  store: SessionStore,
  options: ResolvedSessionOptions,
  cookies: SessionCookieWriter,
  logger: Logger,
): SessionPersistence {
  if (store instanceof CookieStore) return new SealedCookiePersistence(store.sealer, options, cookies, logger, store.revocation);
  return new StorePersistence(store, options, logger);
}
