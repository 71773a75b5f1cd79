/**
 * The atomic per-key update under real concurrency: 100 increments of one session's counter,
 * all in flight at once, through the demo's own `POST /counter/increment` (`session.update`).
 * On Redis, Redis with the near-cache, Redis Cluster and PostgreSQL they are spread
 * round-robin over three node processes sharing the store; on MemoryStore (one process by
 * nature) over 100 concurrent requests to one app, on Express and Fastify. Every store must
 * end at exactly +100, each request answering a distinct value. Each run logs the figures:
 * increments applied, compare-and-set attempts refused (retries), time.
 *
 * The nodes run test/atomic-update.node.mjs: the built demo's controllers (`dist/demo`,
 * built here when missing or older than the sources) over the chosen store, whose
 * compareAndSet calls are counted and reported over IPC.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Module } from '@nestjs/common';
import { type CompareAndSetResult, MemoryStore, SessionModule } from '@novanest/session';
import request from 'supertest';
import { CounterController } from '../src/counter.controller.js';
import { PLATFORMS, startApp } from './support/platforms.js';
import { DEMO_DIST, ensureDemoBuilt } from './support/demo-build.js';
import { freePort } from './support/services.js';
import { serviceUrl, sleep } from './support/store-contract.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMO_DIR = DEMO_DIST;
const NODE_SCRIPT = fileURLToPath(new URL('./atomic-update.node.mjs', import.meta.url));
const INCREMENTS = 100;

interface UpdateStats {
  attempts: number;
  refused: number;
  gone: number;
}

interface AtomicNode {
  readonly url: string;
  readonly child: ChildProcess;
  output: string;
}

async function startNode(env: Record<string, string>): Promise<AtomicNode> {
  const port = await freePort();
  const child = spawn(process.execPath, [NODE_SCRIPT], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), DEMO_DIR: pathToFileURL(DEMO_DIR).href },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const node: AtomicNode = { url: `http://127.0.0.1:${port}`, child, output: '' };
  child.stdout?.on('data', (chunk: Buffer) => (node.output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (node.output += chunk.toString()));
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) throw new Error(`atomic-update node exited during start-up:\n${node.output}`);
    const ready = await fetch(`${node.url}/heartbeat`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return node;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`atomic-update node did not answer /heartbeat within 15 s:\n${node.output}`);
}

async function statsOf(node: AtomicNode): Promise<UpdateStats> {
  const reply = once(node.child, 'message') as Promise<[{ stats: UpdateStats }]>;
  node.child.send('stats');
  const [{ stats }] = await reply;
  return stats;
}

async function stop(node: AtomicNode): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = once(node.child, 'exit');
  node.child.kill('SIGTERM');
  const timer = setTimeout(() => node.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function post(url: string, cookie?: string): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { accept: 'application/json', ...(cookie === undefined ? {} : { cookie }) } });
}

/** The `session_id=...` pair a response sets. */
function sessionCookie(response: Response): string {
  const line = response.headers.getSetCookie().find((each) => each.startsWith('session_id='));
  if (line === undefined) throw new Error('no session cookie in the response');
  return line.split(';')[0];
}

/** Sorted answers must be exactly from+1 .. from+count: nothing lost, nothing counted twice. */
function expectEveryIncrement(counters: number[], from: number, count: number): void {
  expect([...counters].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => from + 1 + i));
}

interface Run {
  name: string;
  env(): Record<string, string>;
}

const RUNS: Run[] = [
  { name: 'Redis', env: () => ({ ATOMIC_STORE: 'redis', ATOMIC_STORE_URL: serviceUrl('redis') }) },
  { name: 'Redis with the near-cache', env: () => ({ ATOMIC_STORE: 'near-cache', ATOMIC_STORE_URL: serviceUrl('redis') }) },
  { name: 'Redis Cluster', env: () => ({ ATOMIC_STORE: 'cluster', ATOMIC_STORE_URL: serviceUrl('redisCluster') }) },
  { name: 'PostgreSQL', env: () => ({ ATOMIC_STORE: 'postgres', ATOMIC_STORE_URL: serviceUrl('postgres') }) },
];

describe.each(RUNS)('100 concurrent increments of one key from three nodes on $name', (run) => {
  const nodes: AtomicNode[] = [];
  let setupError: unknown;

  beforeAll(async () => {
    try {
      ensureDemoBuilt();
      const suffix = randomBytes(5).toString('hex');
      const env = { ...run.env(), ATOMIC_PREFIX: `atomic:${suffix}:`, ATOMIC_TABLE: `atomic_${suffix}` };
      nodes.push(...(await Promise.all([0, 1, 2].map(() => startNode(env)))));
    } catch (error) {
      setupError = error;
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((node) => stop(node)));
  });

  it('exactly +100: every increment applied once, on whichever node it landed', async () => {
    if (setupError !== undefined) throw setupError;
    const init = await post(`${nodes[0].url}/counter/init`);
    expect(init.status).toBe(200);
    const cookie = sessionCookie(init);
    // Every node has loaded the session once (and the near-cache holds it) before the burst.
    for (const node of nodes) expect((await post(`${node.url}/counter/increment`, cookie)).status).toBe(200);
    const before = await Promise.all(nodes.map((node) => statsOf(node)));

    const started = performance.now();
    const responses = await Promise.all(
      Array.from({ length: INCREMENTS }, (_, i) => post(`${nodes[i % nodes.length].url}/counter/increment`, cookie)),
    );
    const ms = performance.now() - started;
    const after = await Promise.all(nodes.map((node) => statsOf(node)));

    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
    const counters = await Promise.all(responses.map(async (response) => ((await response.json()) as { counter: number }).counter));
    expectEveryIncrement(counters, 3, INCREMENTS);
    // And the store holds the sum: the next increment, on any node, counts on from it.
    const next = await post(`${nodes[1].url}/counter/increment`, cookie);
    expect(await next.json()).toEqual({ counter: 3 + INCREMENTS + 1 });

    const delta = (field: keyof UpdateStats): number[] => after.map((stats, i) => stats[field] - before[i][field]);
    const attempts = delta('attempts').reduce((a, b) => a + b, 0);
    const refused = delta('refused').reduce((a, b) => a + b, 0);
    console.log(
      `${run.name}, 3 nodes: ${INCREMENTS} increments applied (+${counters.length}, final ${3 + INCREMENTS + 1}), ` +
        `${attempts} compare-and-set attempts, ${refused} refused and retried (per node ${delta('refused').join('/')}), ` +
        `${ms.toFixed(0)} ms for the burst`,
    );
    expect(attempts - refused).toBe(INCREMENTS);
    expect(delta('gone')).toEqual([0, 0, 0]);
  }, 60_000);
});

/** MemoryStore, counting its compare-and-sets. */
class CountingMemoryStore extends MemoryStore {
  attempts = 0;
  refused = 0;
  override async compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    const result = await super.compareAndSet(key, field, expected, next, ttl);
    this.attempts++;
    if (result.outcome === 'changed') this.refused++;
    return result;
  }
}

describe.each(PLATFORMS)('100 concurrent increments of one key on MemoryStore (one process) on %s', (platform) => {
  it('exactly +100 from 100 concurrent requests', async () => {
    const store = new CountingMemoryStore();
    @Module({ imports: [SessionModule.forRoot(store)], controllers: [CounterController] })
    class CounterModule {}
    const app = await startApp(platform, CounterModule);
    try {
      const server = app.getHttpServer();
      const init = await request(server).post('/counter/init');
      const cookie = (init.headers['set-cookie'] as unknown as string[])[0].split(';')[0];
      const started = performance.now();
      const responses = await Promise.all(
        Array.from({ length: INCREMENTS }, () => request(server).post('/counter/increment').set('Cookie', cookie)),
      );
      const ms = performance.now() - started;
      expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
      expectEveryIncrement(
        responses.map((response) => (response.body as { counter: number }).counter),
        0,
        INCREMENTS,
      );
      expect((await request(server).post('/counter/increment').set('Cookie', cookie)).body).toEqual({ counter: INCREMENTS + 1 });
      console.log(
        `MemoryStore on ${platform}: ${INCREMENTS} increments applied, ${store.attempts - 1} compare-and-set attempts, ` +
          `${store.refused} refused and retried, ${ms.toFixed(0)} ms for the burst`,
      );
      expect(store.attempts - store.refused).toBe(INCREMENTS + 1);
    } finally {
      await app.close();
    }
  });
});
