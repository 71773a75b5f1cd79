/**
 * The pieces the bench runner and the profiler share: finding Redis and PostgreSQL on loopback,
 * CPU pinning, starting and stopping case servers, preparing session cookies, and loading one
 * route for one slice with autocannon while sampling the server's CPU time.
 *
 * All traffic goes to 127.0.0.1: the servers listen there and nowhere else.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { BENCH_REDIS_PREFIX, BENCH_TABLES } from './app.js';
import { type BenchCase, ROUTE_SENDS_COOKIE, type Route } from './cases.js';
import type { OrchestratorMessage, ServerMessage } from './server.js';
import { redisAnswers } from '../test/support/redis-ping.js';

export const HOST = '127.0.0.1';
export const CONNECTIONS = 10;

/** The repository root (where package.json and node_modules are). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && existsSync(path.join(dir, 'node_modules'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('bench: cannot find the repository root (package.json + node_modules)');
    dir = parent;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Services.

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
}

export interface Services {
  redisUrl?: string;
  databaseUrl?: string;
  /** Why a service is missing, for the report. */
  missing: { redis?: string; postgres?: string };
  redisVersion?: string;
  postgresVersion?: string;
}

/**
 * Redis: REDIS_URL, else 127.0.0.1:6379. PostgreSQL: DATABASE_URL, else 127.0.0.1:5432 as
 * `postgres` or `root`, database `postgres` or `test`. Only loopback addresses are accepted:
 * the bench generates load and must never send it anywhere else.
 */
export async function findServices(): Promise<Services> {
  const services: Services = { missing: {} };
  const redisCandidates = process.env.REDIS_URL ? [process.env.REDIS_URL] : [`redis://${HOST}:6379`];
  for (const url of redisCandidates) {
    if (!isLoopbackUrl(url)) {
      services.missing.redis = `REDIS_URL ${url} is not a loopback address; the bench only talks to 127.0.0.1`;
      continue;
    }
    const parsed = new URL(url);
    if (await redisAnswers(parsed.hostname, Number(parsed.port || 6379))) services.redisUrl = url;
    else services.missing.redis = `no Redis answered at ${url} (set REDIS_URL or start redis-server)`;
  }
  if (services.redisUrl !== undefined) {
    const { Redis } = await import('ioredis');
    const client = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
    try {
      const info = await client.info('server');
      services.redisVersion = /redis_version:(\S+)/.exec(info)?.[1];
      await deleteRedisKeys(client);
    } finally {
      client.disconnect();
    }
  }

  const { default: pg } = await import('pg');
  const pgCandidates = process.env.DATABASE_URL
    ? [process.env.DATABASE_URL]
    : ['postgres', 'root'].flatMap((user) => ['postgres', 'test'].map((db) => `postgres://${user}@${HOST}:5432/${db}`));
  for (const url of pgCandidates) {
    if (!isLoopbackUrl(url)) {
      services.missing.postgres = `DATABASE_URL is not a loopback address; the bench only talks to 127.0.0.1`;
      continue;
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
      services.postgresVersion = rows[0]?.server_version;
      services.databaseUrl = url;
      break;
    } catch {
      services.missing.postgres = `no PostgreSQL answered on ${HOST}:5432 (set DATABASE_URL)`;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  if (services.databaseUrl !== undefined) {
    delete services.missing.postgres;
    await dropBenchTables(services.databaseUrl);
  }
  return services;
}

async function deleteRedisKeys(client: import('ioredis').Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${BENCH_REDIS_PREFIX}*`, 'COUNT', 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

async function dropBenchTables(databaseUrl: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const table of Object.values(BENCH_TABLES)) await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } finally {
    await client.end();
  }
}

/** Removes what the bench wrote: its Redis keys and its two tables. */
export async function cleanUpServices(services: Services): Promise<void> {
  if (services.redisUrl !== undefined) {
    const { Redis } = await import('ioredis');
    const client = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
    await deleteRedisKeys(client).catch(() => undefined);
    client.disconnect();
  }
  if (services.databaseUrl !== undefined) await dropBenchTables(services.databaseUrl).catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// CPU pinning.

export interface Pinning {
  /**
   * taskset found and at least two CPUs. The server being measured runs alone on `serverCpu`;
   * this process (the load generator), the idle case servers and the local Redis and
   * PostgreSQL share `loadCpu`.
   */
  enabled: boolean;
  serverCpu: number;
  loadCpu: number;
  note: string;
}

/** Pins a process, all its threads, to one CPU; false when taskset refused. */
export function pinProcess(pid: number, cpu: number): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' }).status === 0;
}

/** Pins this process (all its threads, autocannon included) to the load generator's CPU. */
export function pinSelf(cpuCount: number): Pinning {
  const found = spawnSync('taskset', ['--version'], { stdio: 'ignore' });
  if (found.error !== undefined || cpuCount < 2) {
    return { enabled: false, serverCpu: 0, loadCpu: 0, note: 'not pinned (taskset missing or a single CPU)' };
  }
  if (!pinProcess(process.pid, 1)) return { enabled: false, serverCpu: 0, loadCpu: 0, note: 'not pinned (taskset failed)' };
  return {
    enabled: true,
    serverCpu: 0,
    loadCpu: 1,
    note: 'the measured server alone on CPU 0 during its slice; load generator and idle servers on CPU 1 (taskset)',
  };
}

/** Process names of the local services the stores talk to. */
const SERVICE_COMMANDS = new Set(['redis-server', 'postgres']);

/**
 * Moves the local Redis and PostgreSQL processes (every PostgreSQL backend, and the postmaster,
 * whose later backends inherit it) onto the load generator's CPU for the run, so that their
 * background work (expiry, autovacuum, WAL, checkpoints) after a heavy slice does not land on
 * the CPU of the next server measured. Resolves with what to call to put every mask back.
 * Linux only (reads /proc); a process that cannot be moved is left where it is.
 */
export function pinServices(pinning: Pinning): { note: string; restore(): void } {
  const none = { note: 'Redis and PostgreSQL not pinned', restore: () => undefined };
  if (!pinning.enabled || !existsSync('/proc/self/comm')) return none;
  const moved: { pid: number; mask: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let command: string;
    try {
      command = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue; // gone meanwhile
    }
    if (!SERVICE_COMMANDS.has(command)) continue;
    const pid = Number(entry);
    const shown = spawnSync('taskset', ['-p', String(pid)], { encoding: 'utf8' });
    const mask = /mask:\s*([0-9a-f]+)/i.exec(shown.stdout ?? '')?.[1];
    if (mask === undefined || !pinProcess(pid, pinning.loadCpu)) continue;
    moved.push({ pid, mask });
  }
  if (moved.length === 0) return none;
  return {
    note: `Redis and PostgreSQL (${moved.length} local processes) on CPU ${pinning.loadCpu} during the run, their CPU masks restored after`,
    restore: () => {
      for (const { pid, mask } of moved) spawnSync('taskset', ['-a', '-p', mask, String(pid)], { stdio: 'ignore' });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Case servers.

/** What a server reports (see server.ts), with its CPU time as user + system. */
export type ServerStats = Omit<Extract<ServerMessage, { type: 'stats' }>, 'type' | 'seq' | 'userUs'> & { cpuUs: number };

export interface CaseServer {
  readonly bench: BenchCase;
  readonly port: number;
  readonly child: ChildProcess;
  /** The server's CPU time so far (user + system, and system alone, µs) and its miss counter. */
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
  /**
   * Moves the server onto the measured CPU (`true`) or back to the load generator's (`false`),
   * where idle servers wait, so that no idle server's timers or GC share the measured CPU.
   * Nothing when pinning is off.
   */
  measured(on: boolean): void;
  /** The last lines the server printed, for error messages. */
  output(): string;
}

export interface StartOptions {
  services: Services;
  pinning: Pinning;
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

/**
 * Node flags of every case server. A server waits minutes between its slices in a full run,
 * and after some seconds idle V8's memory reducer shrinks the heap, so its next slice ran at a
 * third of its speed and the one after at two thirds (measured: Express memory read 142 µs per
 * request, 486 µs after 45 s idle, then 240 µs). The bare slices, run between every two case
 * slices, never idled that long, so every case looked dearer the more cases a run had. A server
 * under steady load never meets the reducer; the bench measures that steady state.
 */
const SERVER_NODE_FLAGS = ['--no-memory-reducer'];

/** Starts one case server (compiled `server.js` beside this file) and waits until it listens. */
export function startServer(bench: BenchCase, options: StartOptions): Promise<CaseServer> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.js');
  const nodeCommand = [process.execPath, ...SERVER_NODE_FLAGS, ...(options.nodeArgs ?? []), script];
  const [command, args] = options.pinning.enabled
    ? ['taskset', ['-c', String(options.pinning.loadCpu), ...nodeCommand]]
    : [nodeCommand[0], nodeCommand.slice(1)];
  const child = spawn(command, args as string[], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      BENCH_CASE: bench.id,
      BENCH_REDIS_URL: options.services.redisUrl ?? '',
      BENCH_DATABASE_URL: options.services.databaseUrl ?? '',
    },
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let seq = 0;
  const waiting = new Map<number, (message: Extract<ServerMessage, { type: 'stats' }>) => void>();
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));

  return new Promise<CaseServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${bench.id}: the server did not start in time\n${output}`));
    }, options.startTimeoutMs ?? 60_000);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${bench.id}: the server exited (code ${child.exitCode})\n${output}`));
      for (const [, settle] of waiting)
        settle({ type: 'stats', seq: -1, userUs: Number.NaN, systemUs: 0, misses: 0, cacheHits: 0, cacheMisses: 0, rss: 0, monoUs: 0 });
    });
    child.on('message', (message: ServerMessage) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve({
          bench,
          port: message.port,
          child,
          output: () => output,
          measured: (on) => {
            const { enabled, serverCpu, loadCpu } = options.pinning;
            if (enabled && !exited && child.pid !== undefined) pinProcess(child.pid, on ? serverCpu : loadCpu);
          },
          stats: () =>
            new Promise((settle, fail) => {
              if (exited) return fail(new Error(`${bench.id}: the server is gone\n${output}`));
              const id = ++seq;
              waiting.set(id, (reply) => {
                waiting.delete(id);
                if (Number.isNaN(reply.userUs)) fail(new Error(`${bench.id}: the server exited\n${output}`));
                else {
                  settle({
                    cpuUs: reply.userUs + reply.systemUs,
                    systemUs: reply.systemUs,
                    misses: reply.misses,
                    cacheHits: reply.cacheHits,
                    cacheMisses: reply.cacheMisses,
                    rss: reply.rss,
                    monoUs: reply.monoUs,
                  });
                }
              });
              child.send({ type: 'stats', seq: id } satisfies OrchestratorMessage);
            }),
          stop: async () => {
            if (exited) return;
            child.send({ type: 'stop' } satisfies OrchestratorMessage, () => undefined);
            const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exit;
            clearTimeout(killer);
          },
        });
      } else if (message.type === 'stats') {
        waiting.get(message.seq)?.(message);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${bench.id}: ${message.error}\n${output}`));
      }
    });
  });
}

/** Starts servers a few at a time (they share the load generator's CPU while they boot). */
export async function startServers(
  cases: readonly BenchCase[],
  options: StartOptions,
  parallel = 4,
): Promise<{ servers: Map<string, CaseServer>; failed: Map<string, string> }> {
  const servers = new Map<string, CaseServer>();
  const failed = new Map<string, string>();
  const queue = [...cases];
  const worker = async (): Promise<void> => {
    for (let bench = queue.shift(); bench !== undefined; bench = queue.shift()) {
      try {
        servers.set(bench.id, await startServer(bench, options));
      } catch (error) {
        failed.set(bench.id, error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { servers, failed };
}

// ---------------------------------------------------------------------------------------------
// Session cookies.

/** `name=value` pairs of a response's Set-Cookie headers, as a Cookie request header. */
function cookieHeader(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0].trim())
    .join('; ');
}

/**
 * Prepares the session the cookie routes use (one request to `setup`) and checks each route
 * once: `new` sets a cookie, `read` finds the prepared value, `write` counts, `untouched`
 * answers. Throws with the reason when a case does not behave, so it never gets measured.
 */
export async function prepareSession(server: CaseServer): Promise<string | undefined> {
  const base = `http://${HOST}:${server.port}`;
  if (server.bench.kind === 'bare' || server.bench.kind === 'reference') {
    for (const route of ['setup', 'new', 'read', 'write', 'untouched']) {
      const response = await fetch(`${base}/${route}`);
      if (response.status !== 200) throw new Error(`${server.bench.id}: GET /${route} answered ${response.status}`);
    }
    return undefined;
  }
  const setup = await fetch(`${base}/setup`);
  const cookie = cookieHeader(setup);
  if (setup.status !== 200 || cookie === '') {
    throw new Error(`${server.bench.id}: /setup answered ${setup.status} without a session cookie`);
  }
  const fresh = await fetch(`${base}/new`);
  if (fresh.status !== 200 || cookieHeader(fresh) === '') {
    throw new Error(`${server.bench.id}: /new answered ${fresh.status} without a session cookie`);
  }
  const read = await fetch(`${base}/read`, { headers: { cookie } });
  const body = (await read.json()) as { username?: string };
  if (read.status !== 200 || body.username !== 'bench-user') {
    throw new Error(`${server.bench.id}: /read with the prepared cookie gave ${read.status} ${JSON.stringify(body)}`);
  }
  const write = await fetch(`${base}/write`, { headers: { cookie } });
  const written = (await write.json()) as { counter?: number };
  if (write.status !== 200 || written.counter !== 1) {
    throw new Error(`${server.bench.id}: /write with the prepared cookie gave ${write.status} ${JSON.stringify(written)}`);
  }
  const untouched = await fetch(`${base}/untouched`, { headers: { cookie } });
  if (untouched.status !== 200) throw new Error(`${server.bench.id}: /untouched answered ${untouched.status}`);
  return cookie;
}

// ---------------------------------------------------------------------------------------------
// Load.

export interface SliceResult {
  requests: number;
  /** Server monotonic clock (µs) at the start and the end of the slice. */
  startMonoUs: number;
  endMonoUs: number;
  durationS: number;
  p99Ms: number;
  cpuUs: number;
  /** The part of `cpuUs` spent in the kernel (socket writes and reads, wake-ups). */
  systemUs: number;
  failures: number;
  misses: number;
  /** Near-cache reads in the slice answered from memory and from Redis (near-cache cases). */
  cacheHits: number;
  cacheMisses: number;
}

/**
 * Loads one route of one server for `seconds` with autocannon (10 connections, loopback),
 * sampling the server's CPU time just before and just after.
 */
export async function runSlice(server: CaseServer, route: Route, cookie: string | undefined, seconds: number): Promise<SliceResult> {
  const headers: Record<string, string> = {};
  if (ROUTE_SENDS_COOKIE[route] && cookie !== undefined) headers.cookie = cookie;
  server.measured(true);
  try {
    return await loadSlice(server, route, headers, seconds);
  } finally {
    server.measured(false);
  }
}

async function loadSlice(server: CaseServer, route: Route, headers: Record<string, string>, seconds: number): Promise<SliceResult> {
  const before = await server.stats();
  const result = await autocannon({
    url: `http://${HOST}:${server.port}/${route}`,
    connections: CONNECTIONS,
    duration: seconds,
    // autocannon checks for the end of its run once per sample interval (1 s by default),
    // which would round every slice up to whole seconds.
    sampleInt: 50,
    headers,
  });
  const after = await server.stats();
  return {
    requests: result.requests.total,
    startMonoUs: before.monoUs,
    endMonoUs: after.monoUs,
    durationS: result.duration,
    p99Ms: result.latency.p99,
    cpuUs: after.cpuUs - before.cpuUs,
    systemUs: after.systemUs - before.systemUs,
    failures: result.non2xx + result.errors + result.timeouts,
    misses: after.misses - before.misses,
    cacheHits: after.cacheHits - before.cacheHits,
    cacheMisses: after.cacheMisses - before.cacheMisses,
  };
}

/** Package versions for the report, read from node_modules. */
export function packageVersions(names: readonly string[]): Record<string, string> {
  const root = repoRoot();
  const versions: Record<string, string> = {};
  for (const name of names) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
        version?: string;
      };
      versions[name] = manifest.version ?? '?';
    } catch {
      versions[name] = 'not installed';
    }
  }
  return versions;
}

export { sleep };
