import { SessionValueError } from '../session.exceptions.js';

/** Options of `session.update`. */
export interface SessionUpdateOptions {
  /**
   * Most times the store is asked before the update gives up with
   * `SessionUpdateConflictException` (a 503). Each refused attempt means another request
   * changed the key first, so the bound only matters for a key that many requests change at
   * the same moment. Default: `50`.
   */
  maxAttempts?: number;
}

/** See `SessionUpdateOptions.maxAttempts`. */
export const DEFAULT_UPDATE_ATTEMPTS = 50;

/** Longest pause between two attempts, in ms. */
const MAX_PAUSE_MS = 32;

/** The attempt bound of one `update` call, checked. Internal. */
export function updateAttempts(options: SessionUpdateOptions | undefined): number {
  const attempts = options?.maxAttempts ?? DEFAULT_UPDATE_ATTEMPTS;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new SessionValueError(`session.update maxAttempts must be a positive integer, got ${String(attempts)}`);
  }
  return attempts;
}

/**
 * The pause after refused attempt number `attempt` (1, 2, ...): none after the first (the
 * refusal brought the current value, so the retry is likely to win), then a random share of
 * a window that doubles up to `MAX_PAUSE_MS`, so that requests colliding on one key spread
 * out instead of colliding again in lockstep. Internal.
 */
export function updatePauseMs(attempt: number, random: () => number = Math.random): number {
  if (attempt <= 1) return 0;
  const window = Math.min(MAX_PAUSE_MS, 2 ** (attempt - 2));
  return random() * window;
}

/** Waits `ms` (nothing for 0). Internal. */
export function pause(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

/** The step function of `increment(key, by)`: a missing key counts from 0. Internal. */
export function incrementBy(key: string, by: number): (current: unknown) => number {
  if (typeof by !== 'number' || !Number.isFinite(by)) {
    throw new SessionValueError(`session.increment(${JSON.stringify(key)}, by) needs a finite number, got ${String(by)}`);
  }
  return (current) => {
    if (current === undefined) return by;
    if (typeof current !== 'number') {
      const kind =
        current === null ? 'null' : Array.isArray(current) ? 'an array' : typeof current === 'object' ? 'an object' : `a ${typeof current}`;
      throw new SessionValueError(`session key ${JSON.stringify(key)} holds ${kind}, not a number; increment() needs a number`);
    }
    return current + by;
  };
}
