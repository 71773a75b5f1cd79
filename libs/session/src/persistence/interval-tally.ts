/**
 * Counts by label over an interval, for the logs that report in aggregate (store failures,
 * rejected cookies). `add` counts one and starts the timer (one, `unref()`'d) when none runs;
 * each tick hands the total and the counts (`"label n, label m"`) to `report` and starts over,
 * and a tick with nothing counted stops the timer, ending the spell. Internal.
 */
export class IntervalTally {
  private readonly counts = new Map<string, number>();
  private total = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly report: (total: number, byLabel: string) => void,
  ) {}

  /** True while a spell lasts: something was counted, or `start` ran, within the last interval. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Starts a spell without counting anything (a first event reported on its own). */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  add(label: string): void {
    this.total += 1;
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    this.start();
  }

  private tick(): void {
    if (this.total === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const byLabel = [...this.counts].map(([label, count]) => `${label} ${count}`).join(', ');
    const total = this.total;
    this.total = 0;
    this.counts.clear();
    this.report(total, byLabel);
  }
}
