import type { ResolvedSessionOptions } from '../session-options.js';

/**
 * The expiry rules of a session, as pure functions of the session's times, `now` and the
 * options, so that each rule can be read and tested on its own (no clock, no fake timers). All
 * times are epoch milliseconds and all durations milliseconds unless a name says otherwise.
 * Internal.
 */

/** The options the expiry rules read; timeouts in ms. */
export type SessionExpiryOptions = Pick<ResolvedSessionOptions, 'idleTimeoutMs' | 'absoluteTimeoutMs' | 'rolling' | 'renew'>;

/** Touches that gain less than this are not worth a store round trip, whatever the idle timeout. */
const MAX_TOUCH_STEP_MS = 60_000;

/**
 * Store TTL in ms from `now`: the idle timeout, cut short by the absolute timeout that counts
 * from `createdAt`; 0 once that is past. Cookie Max-Age comes from the same number, so the
 * store record and the cookie expire together.
 */
export function sessionTtl(createdAt: number, now: number, options: SessionExpiryOptions): number {
  return Math.max(0, Math.min(options.idleTimeoutMs, createdAt + options.absoluteTimeoutMs - now));
}

/** Whether a session created at `createdAt` has reached its absolute timeout at `now`. */
export function isPastAbsoluteTimeout(createdAt: number, now: number, options: SessionExpiryOptions): boolean {
  return createdAt + options.absoluteTimeoutMs <= now;
}

/**
 * Whether a session that was used but not changed should have its expiry (`expiresAt`) moved.
 * Never when it would gain nothing. `rolling`: always. `renew`: once less than that share of
 * the idle timeout is left. Otherwise: when it would gain a tenth of the idle timeout (at most
 * a minute), since a smaller gain is not worth a store round trip.
 */
export function isTouchDue(createdAt: number, expiresAt: number, now: number, options: SessionExpiryOptions): boolean {
  const { rolling, renew, idleTimeoutMs } = options;
  const gain = now + sessionTtl(createdAt, now, options) - expiresAt;
  if (gain <= 0) return false;
  if (rolling) return true;
  if (renew !== undefined) return expiresAt - now < renew * idleTimeoutMs;
  return gain >= Math.min(MAX_TOUCH_STEP_MS, idleTimeoutMs / 10);
}

/** Max-Age in whole seconds (rounded up, never negative) for a cookie that expires at `expiresAt`. */
export function cookieMaxAge(expiresAt: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}
