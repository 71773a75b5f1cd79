/**
 * Many nodes, no sticky sessions: three demo processes share one store, and clients with a
 * cookie jar go round-robin across them. Runs on Redis, on Postgres, and on Redis with the
 * near-cache. Every read follows an acknowledged write of the same client, so any stale answer
 * is an inconsistency; one node is SIGKILLed in the middle of the traffic.
 *
 * The nodes run the built demo (`dist/demo`), built here when missing or older than the
 * sources, through test/multi-node.node.mjs (the demo's AppModule, listening on loopback).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { DEMO_DIST, ensureDemoBuilt } from './support/demo-build.js';
import { freePort } from './support/services.js';
import { serviceUrl, sleep } from './support/store-contract.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP_MODULE = path.join(DEMO_DIST, 'app.module.js');
const NODE_SCRIPT = fileURLToPath(new URL('./multi-node.node.mjs', import.meta.url));

/** Users served at once; each one's requests are sequential. */
const USERS = 12;
/** Counter steps per user: an increment, then reads on the next nodes (see `runUser`). */
const CYCLES = 65;
/** Total requests after which one node is SIGKILLed (traffic keeps flowing). */
const KILL_AFTER = 1_500;

interface DemoNode {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  output: string;
  /** In the rotation: started and not (yet known to be) dead. */
  alive: boolean;
  /** SIGKILL sent (its exit event may still be on its way). */
  killed: boolean;
}

async function startNode(name: string, env: Record<string, string>): Promise<DemoNode> {
  const port = await freePort();
  const child = spawn(process.execPath, [NODE_SCRIPT], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), DEMO_APP_MODULE: pathToFileURL(APP_MODULE).href },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const node: DemoNode = { name, url: `http://127.0.0.1:${port}`, child, output: '', alive: true, killed: false };
  child.stdout?.on('data', (chunk: Buffer) => (node.output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (node.output += chunk.toString()));
  child.on('exit', () => (node.alive = false));
  for (let attempt = 0; attempt < 300; attempt++) {
    if (!node.alive) throw new Error(`demo node ${name} exited during start-up:\n${node.output}`);
    const ready = await fetch(`${node.url}/heartbeat`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return node;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`demo node ${name} did not answer /heartbeat within 15 s:\n${node.output}`);
}

async function kill(node: DemoNode): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const exited = once(node.child, 'exit');
  node.killed = true;
  node.child.kill('SIGKILL');
  await exited;
}

/** The round-robin "load balancer": no stickiness; a node that refuses connections leaves the rotation. */
class Balancer {
  private next = 0;
  constructor(private readonly nodes: DemoNode[]) {}

  live(): DemoNode[] {
    return this.nodes.filter((node) => node.alive);
  }

  pick(): DemoNode {
    const live = this.live();
    if (live.length === 0) throw new Error('no demo node left');
    return live[this.next++ % live.length];
  }
}

interface Stats {
  requests: number;
  reads: number;
  inconsistentReads: string[];
  lostIncrements: number;
  /** Requests that died with the killed node (no answer: outcome unknown to the client). */
  cutOff: number;
}

/** A browser: one cookie (and its session's CSRF token), sent to whichever node the balancer picks. */
class Client {
  private cookie: string | undefined;
  private csrfToken: string | undefined;

  /** The `session_id=...` pair the client sends now. */
  get currentCookie(): string | undefined {
    return this.cookie;
  }

  constructor(
    private readonly balancer: Balancer,
    private readonly stats: Stats,
    private readonly onRequest: () => Promise<void>,
  ) {}

  /**
   * Sends one request to the next node. When that node is gone before it answers, the request
   * is reported as cut off (`undefined`) and the node leaves the rotation.
   */
  async send(method: 'GET' | 'POST', route: string, body?: URLSearchParams, node = this.balancer.pick()): Promise<Response | undefined> {
    await this.onRequest();
    this.stats.requests++;
    let response: Response;
    try {
      response = await fetch(`${node.url}${route}`, {
        method,
        body,
        redirect: 'manual',
        headers: {
          accept: 'application/json',
          ...(this.cookie === undefined ? {} : { cookie: this.cookie }),
          // The demo checks every POST with SessionCsrfGuard.
          ...(method === 'POST' && this.csrfToken !== undefined ? { 'x-csrf-token': this.csrfToken } : {}),
        },
      });
    } catch (error) {
      // Only the node we killed may fail to answer.
      if (!node.killed) throw error;
      node.alive = false;
      this.stats.cutOff++;
      return undefined;
    }
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      if (!pair.startsWith('session_id=')) continue;
      this.cookie = /Max-Age=0/i.test(line) ? undefined : pair;
    }
    return response;
  }

  /** Fetches a CSRF token of the client's session (a new one after login, which renews the secret). */
  async fetchToken(): Promise<void> {
    const response = await this.read('/csrf-token');
    this.csrfToken = ((await response.json()) as { token: string }).token;
  }

  /** Sends until a node answers (a read may be repeated safely on another node). */
  async read(route: string): Promise<Response> {
    for (;;) {
      const response = await this.send('GET', route);
      if (response !== undefined) return response;
    }
  }
}

/**
 * One user: log in on one node, read the profile on the next two, then the counter across all
 * of them: an increment, then three reads (profile) on the following nodes, over and over; log
 * out at the end and check that no node still knows the session.
 */
async function runUser(index: number, balancer: Balancer, stats: Stats, onRequest: () => Promise<void>): Promise<void> {
  const client = new Client(balancer, stats, onRequest);
  const username = `user${index}`;
  const inconsistent = (what: string): void => void stats.inconsistentReads.push(`${username}: ${what}`);

  await client.fetchToken();
  let login: Response | undefined;
  while (login === undefined) login = await client.send('POST', '/login', new URLSearchParams({ username, password: 'password' }));
  expect(login.status).toBe(302);
  await client.fetchToken();

  const checkProfile = async (): Promise<void> => {
    const profile = await client.read('/profile');
    stats.reads++;
    if (profile.status !== 200) inconsistent(`/profile answered ${profile.status}`);
    else if (((await profile.json()) as { username: string }).username !== username) inconsistent('/profile named someone else');
  };
  await checkProfile();
  await checkProfile();

  let init: Response | undefined;
  while (init === undefined) init = await client.send('POST', '/counter/init');
  expect(init.status).toBe(200);

  let counter = 0;
  let uncertain = 0;
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const response = await client.send('POST', '/counter/increment');
    if (response === undefined) {
      // Cut off with its node: it may or may not have committed before the node died.
      uncertain++;
      continue;
    }
    stats.reads++;
    const { counter: value } = (await response.json()) as { counter: number };
    const plausible = value >= counter + 1 && value <= counter + 1 + uncertain;
    if (response.status !== 200 || !plausible) {
      inconsistent(`increment answered ${response.status} counter=${value} after ${counter} (${uncertain} cut off)`);
    }
    counter = value;
    uncertain = 0;
    for (let read = 0; read < 3; read++) await checkProfile();
  }

  // Nothing lost: one more increment on every node still counts on from the last answer.
  for (const _ of balancer.live()) {
    const response = await client.send('POST', '/counter/increment');
    if (response === undefined) continue;
    const { counter: value } = (await response.json()) as { counter: number };
    if (value < counter + 1) stats.lostIncrements += counter + 1 - value;
    counter = value;
  }

  const cookie = client.currentCookie;
  let logout: Response | undefined;
  while (logout === undefined) logout = await client.send('GET', '/logout');
  expect(logout.status).toBe(302);
  // The client keeps its old cookie here: a node that still served it would be a stale read.
  for (const node of balancer.live()) {
    const after = await fetch(`${node.url}/profile`, { headers: { accept: 'application/json', cookie: cookie ?? '' } });
    stats.requests++;
    stats.reads++;
    if (after.status !== 401) inconsistent(`${node.name} still served the session after logout (${after.status})`);
  }
}

interface Run {
  name: string;
  env(): Record<string, string>;
  redis: boolean;
}

const RUNS: Run[] = [
  { name: 'Redis', redis: true, env: () => ({ SESSION_STORE: serviceUrl('redis') }) },
  { name: 'Postgres', redis: false, env: () => ({ SESSION_STORE: serviceUrl('postgres') }) },
  { name: 'Redis with the near-cache', redis: true, env: () => ({ SESSION_STORE: serviceUrl('redis'), SESSION_NEAR_CACHE: '1' }) },
];

describe.each(RUNS)('three demo nodes on $name, round-robin, no stickiness', (run) => {
  const nodes: DemoNode[] = [];
  let setupError: unknown;

  beforeAll(async () => {
    try {
      ensureDemoBuilt();
      const env = run.env();
      nodes.push(...(await Promise.all(['node1', 'node2', 'node3'].map((name) => startNode(name, env)))));
    } catch (error) {
      setupError = error;
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((node) => kill(node)));
  });

  it('serves every session from every node: no stale read, no lost increment, not even when a node is killed', async () => {
    if (setupError !== undefined) throw setupError;
    const stats: Stats = { requests: 0, reads: 0, inconsistentReads: [], lostIncrements: 0, cutOff: 0 };
    const balancer = new Balancer(nodes);
    const victim = nodes[1];
    let killed: Promise<void> | undefined;
    const onRequest = async (): Promise<void> => {
      if (killed === undefined && stats.requests >= KILL_AFTER) killed = kill(victim);
    };

    // On Redis: count session loads seen by the server (EVALSHA of the load script: key only).
    let monitor: Redis | undefined;
    let loads = 0;
    if (run.redis) {
      monitor = await new Redis(serviceUrl('redis')).monitor();
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === 'lua' || String(args[0]).toLowerCase() !== 'evalsha') return;
        if (args.length === 4 && String(args[3]).startsWith('sess:')) loads++;
      });
    }
    const subscribers = async (): Promise<number> => {
      const probe = new Redis(serviceUrl('redis'));
      try {
        return Number(((await probe.call('PUBSUB', 'NUMSUB', 'sess:invalidate')) as [string, number])[1]);
      } finally {
        probe.disconnect();
      }
    };
    let subscribedBefore = 0;
    if (run.name.includes('near-cache')) {
      for (let attempt = 0; attempt < 100 && (subscribedBefore = await subscribers()) < 3; attempt++) await sleep(50);
    }

    const started = performance.now();
    try {
      await Promise.all(Array.from({ length: USERS }, (_, i) => runUser(i, balancer, stats, onRequest)));
    } finally {
      monitor?.disconnect();
    }
    const seconds = (performance.now() - started) / 1000;
    await killed;

    console.log(
      `${run.name}: ${stats.requests} requests (${stats.reads} reads after a write) in ${seconds.toFixed(1)} s, ` +
        `${stats.inconsistentReads.length} inconsistent reads, ${stats.lostIncrements} lost increments, ` +
        `${stats.cutOff} requests cut off by the SIGKILL of ${victim.name}` +
        (run.redis ? `, ${loads} session loads from Redis` : ''),
    );
    expect(killed, 'the victim node must have been killed during the run').toBeDefined();
    expect(victim.alive).toBe(false);
    expect(nodes.filter((node) => node.alive)).toHaveLength(2);
    expect(stats.requests).toBeGreaterThanOrEqual(3_000);
    expect(stats.inconsistentReads).toEqual([]);
    expect(stats.lostIncrements).toBe(0);
    if (run.name.includes('near-cache')) {
      // Every node had subscribed for invalidations, and some reads never reached Redis.
      expect(subscribedBefore).toBe(3);
      expect(loads).toBeLessThan(stats.reads);
    }
  }, 90_000);
});
