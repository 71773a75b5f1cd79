/**
 * One bench server process: the case named by BENCH_CASE on 127.0.0.1, a random port.
 *
 * Talks to the orchestrator over the IPC channel only (no extra route, so the measured traffic
 * is exactly the load): `ready` with the port once listening; `stats` answers with the
 * process's CPU time (`process.cpuUsage()`, all threads) so the orchestrator can sample it
 * around each slice; `stop` closes the app and exits normally (which is what writes a
 * `--cpu-prof` profile). The process also exits when the orchestrator goes away.
 */
import { createBenchApp, counters } from './app.js';
import { parseCaseId } from './cases.js';

export type ServerMessage =
  | { type: 'ready'; port: number }
  | {
      type: 'stats';
      seq: number;
      userUs: number;
      systemUs: number;
      misses: number;
      /** Near-cache reads answered from memory and from Redis so far (near-cache cases only). */
      cacheHits: number;
      cacheMisses: number;
      rss: number;
      /** Monotonic clock in µs: the clock of `--cpu-prof` timestamps, to cut a profile to a window. */
      monoUs: number;
    }
  | { type: 'failed'; error: string };

export type OrchestratorMessage = { type: 'stats'; seq: number } | { type: 'stop' };

function send(message: ServerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error('bench/server.js runs under bench/run.js (it needs an IPC channel)');
  const bench = parseCaseId(process.env.BENCH_CASE ?? '');
  const { app, close } = await createBenchApp(bench, {
    redisUrl: process.env.BENCH_REDIS_URL,
    databaseUrl: process.env.BENCH_DATABASE_URL,
  });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 5000);
    force.unref();
    await close().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (message: OrchestratorMessage) => {
    if (message.type === 'stats') {
      const cpu = process.cpuUsage();
      const cache = counters.nearCache?.();
      send({
        type: 'stats',
        seq: message.seq,
        userUs: cpu.user,
        systemUs: cpu.system,
        misses: counters.misses,
        cacheHits: cache?.hits ?? 0,
        cacheMisses: cache?.misses ?? 0,
        rss: process.memoryUsage.rss(),
        monoUs: Number(process.hrtime.bigint() / 1000n),
      });
    } else if (message.type === 'stop') {
      void stop();
    }
  });
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready', port: address.port });
}

main().catch((error: unknown) => {
  send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
