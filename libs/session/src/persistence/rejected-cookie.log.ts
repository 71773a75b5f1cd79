import type { Logger } from '@nestjs/common';
import { IntervalTally } from './interval-tally.js';

/** How often, at most, a summary of rejected session cookies is logged while they keep coming. */
export const REJECTED_COOKIE_LOG_INTERVAL_MS = 10_000;

/**
 * Session cookies the module refused (malformed, badly signed, tampered with, not sealed by
 * us), counted by reason and reported at warn level at most once per interval: one stray
 * cookie is a client fault (each still gets a debug line), a steady stream of them is worth
 * a look (a secret dropped too early, a probe), and a line per request would bury the rest.
 * The first rejection after a quiet spell starts one `unref()`'d timer; at the end of the
 * interval one line gives the count per reason, and an interval with none stops the timer.
 * Never logs a cookie's value. Internal.
 */
export class RejectedCookieLog {
  private readonly tally: IntervalTally;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = REJECTED_COOKIE_LOG_INTERVAL_MS,
  ) {
    this.tally = new IntervalTally(intervalMs, (total, byReason) => this.report(total, byReason));
  }

  /** One refused cookie; `reason` is a short fixed phrase, never anything from the cookie. */
  record(reason: string): void {
    this.tally.add(reason);
  }

  private report(total: number, byReason: string): void {
    const noun = total === 1 ? 'cookie' : 'cookies';
    this.logger.warn(
      `Rejected ${total} session ${noun} in the last ${this.intervalMs / 1000} s (${byReason}); ` +
        'each request went on with a fresh session',
    );
  }
}
