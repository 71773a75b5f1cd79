import type { Logger } from '@nestjs/common';
import { IntervalTally } from './interval-tally.js';

/** How often, at most, a summary of store failures is logged while they go on. */
export const STORE_FAILURE_LOG_INTERVAL_MS = 10_000;

/**
 * Store failures in the log without a flood: an outage under load fails every request, and a
 * line per request buries everything else (a 7 s Redis outage once made 26,688 lines). The
 * first failure after a quiet spell is logged at once, with its reason; the ones after it are
 * counted per operation, and one line per interval reports the count and the last reason. An
 * interval with no failure ends the spell: the timer (one, `unref()`'d) stops and the next
 * failure is again logged at once. Internal.
 */
export class StoreFailureLog {
  private readonly tally: IntervalTally;
  private lastReason = '';

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = STORE_FAILURE_LOG_INTERVAL_MS,
  ) {
    this.tally = new IntervalTally(intervalMs, (total, byOperation) => this.report(total, byOperation));
  }

  /** One failed store call: `operation` is load, write, touch or destroy. */
  record(operation: string, reason: string): void {
    if (!this.tally.running) {
      this.logger.error(
        `Session store ${operation} failed: ${reason} (further failures are counted and reported every ${this.intervalMs / 1000} s)`,
      );
      this.tally.start();
      return;
    }
    this.tally.add(operation);
    this.lastReason = reason;
  }

  private report(total: number, byOperation: string): void {
    this.logger.error(
      `Session store failed ${total} more times in the last ${this.intervalMs / 1000} s (${byOperation}); last: ${this.lastReason}`,
    );
  }
}
