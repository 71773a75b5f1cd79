/**
 * `npm run bench:memory [-- --sessions N]`: the MemoryStore at scale.
 *
 * Writes N (default 1,000,000) sessions of `{ username, counter }` through the store API, as the
 * session handle does (keys are SHA-256 digests of fresh 256-bit ids, one 'create' write each),
 * and reports the process RSS and heap after a full GC. The sessions are written with a 1 ms
 * time to live (their expiries are in the past by the time the last one is written: they are
 * all still held, since only a sweep or a read removes them), then the store's own sweep timer
 * (1 s interval) removes them all while `perf_hooks.monitorEventLoopDelay` and a GC observer
 * watch the event loop. Writes bench/results-memory.md.
 */
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { MemoryStore } from '@novanest/session';
import { repoRoot } from './harness.js';

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
}

function parseSessions(argv: readonly string[]): number {
  const index = argv.indexOf('--sessions');
  if (index === -1) return 1_000_000;
  const value = Number(argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--sessions must be a positive integer, got ${argv[index + 1]}`);
  return value;
}

export interface MemoryBenchResult {
  sessions: number;
  insertSeconds: number;
  baselineRss: number;
  rss: number;
  heapUsed: number;
  sweepSeconds: number;
  maxStallMs: number;
  p99StallMs: number;
  meanStallMs: number;
  longestGcMs: number;
  gcCount: number;
  leftAfterSweep: number;
}

/** Runs the whole measurement in this process. */
export async function runMemoryBench(sessions: number): Promise<MemoryBenchResult> {
  collect();
  const baselineRss = process.memoryUsage.rss();
  const store = new MemoryStore({ maxEntries: sessions + 1, sweepInterval: 1 });
  const started = Date.now();
  for (let i = 0; i < sessions; i++) {
    // What the library keys a record by: the SHA-256 of a 32-byte random id.
    const key = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    await store.write(key, {
      mode: 'create',
      set: new Map<string, unknown>([
        ['username', `user${i}@example.com`],
        ['counter', i],
      ]),
      delete: [],
      clear: false,
      createdAt: Date.now(),
      ttl: 1,
    });
  }
  const insertSeconds = (Date.now() - started) / 1000;
  if (store.size !== sessions) throw new Error(`expected ${sessions} sessions held, found ${store.size}`);
  collect();
  const memory = process.memoryUsage();

  // The sweep: the store's own timer (1 s) runs it; watch the event loop until the store is empty.
  const gcPauses: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPauses.push(entry.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const watchStart = Date.now();
  let sweepStart: number | undefined;
  const limit = watchStart + 120_000;
  while (store.size > 0 && Date.now() < limit) {
    if (sweepStart === undefined && store.size < sessions) sweepStart = Date.now();
    await sleep(2);
  }
  const sweepEnd = Date.now();
  await sleep(200); // let a GC that the sweep triggered show up in the histogram
  delay.disable();
  observer.disconnect();
  store.onApplicationShutdown();
  return {
    sessions,
    insertSeconds,
    baselineRss,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    sweepSeconds: (sweepEnd - (sweepStart ?? watchStart)) / 1000,
    maxStallMs: delay.max / 1e6,
    p99StallMs: delay.percentile(99) / 1e6,
    meanStallMs: delay.mean / 1e6,
    longestGcMs: gcPauses.length === 0 ? 0 : Math.max(...gcPauses),
    gcCount: gcPauses.length,
    leftAfterSweep: store.size,
  };
}

async function main(): Promise<void> {
  const sessions = parseSessions(process.argv.slice(2));
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    process.stderr.write('bench:memory: run with node --expose-gc for a settled heap (npm run bench:memory does)\n');
  }
  const result = await runMemoryBench(sessions);
  const rssTarget = 500 * 1024 * 1024;
  const stallTarget = 10;
  const lines = [
    '# MemoryStore at scale',
    '',
    `${new Date().toISOString()} · \`npm run bench:memory\` · ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ` +
      `Node ${process.version}, ${process.platform} ${release()}`,
    '',
    `${result.sessions.toLocaleString('en-US')} sessions of \`{ username, counter }\` written through \`MemoryStore.write\` ` +
      `(SHA-256 keys of fresh ids), with a 1 ms TTL so that all are expired but still held; then the store's sweep ` +
      `timer (1 s) removes them while \`monitorEventLoopDelay\` (1 ms resolution) watches the event loop.`,
    '',
    '| measure | value | target | met |',
    '|:--|--:|--:|:--|',
    `| RSS with ${result.sessions.toLocaleString('en-US')} sessions (after GC) | ${mb(result.rss)} | < 500 MB | ${result.rss < rssTarget ? 'yes' : '**no**'} |`,
    `| RSS before writing (baseline) | ${mb(result.baselineRss)} | | |`,
    `| heap used | ${mb(result.heapUsed)} | | |`,
    `| bytes per session (RSS growth / sessions) | ${((result.rss - result.baselineRss) / result.sessions).toFixed(0)} | | |`,
    `| time to write them | ${result.insertSeconds.toFixed(1)} s | | |`,
    `| longest event-loop stall during the sweep | ${result.maxStallMs.toFixed(1)} ms | ≤ 10 ms | ${result.maxStallMs <= stallTarget ? 'yes' : '**no**'} |`,
    `| p99 / mean event-loop delay during the sweep | ${result.p99StallMs.toFixed(1)} / ${result.meanStallMs.toFixed(1)} ms | | |`,
    `| longest GC pause during the sweep (${result.gcCount} GCs) | ${result.longestGcMs.toFixed(1)} ms | | |`,
    `| sweep duration (first to last removal) | ${result.sweepSeconds.toFixed(1)} s | | |`,
    `| sessions left after the sweep | ${result.leftAfterSweep} | 0 | ${result.leftAfterSweep === 0 ? 'yes' : '**no**'} |`,
    '',
    'The event-loop delay includes the 1 ms sampling timer itself and any GC pause.',
    '',
  ];
  const markdown = lines.join('\n');
  process.stdout.write(markdown);
  const out = path.join(repoRoot(), 'bench', 'results-memory.md');
  if (!process.argv.includes('--no-write')) writeFileSync(out, markdown);
  process.exit(0);
}

if (process.argv[1]?.endsWith('memory.js')) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:memory failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
