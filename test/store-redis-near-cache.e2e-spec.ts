/**
 * RedisStore with its near-cache (`localCache`): the store contract on Redis and on Redis
 * Cluster, then what only a cache can get wrong: stale reads across nodes, round trips, the
 * subscriber going away, bounds and expiry, lifecycle. Timings are printed, never asserted.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { INestApplication } from '@nestjs/common';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import request from 'supertest';
import { type SessionWrite } from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { cookieValue } from './support/cookies.js';
import { startApp } from './support/platforms.js';
import { appModule, runStoreContract, serviceUrl, sleep, storeKeyOf } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

/** Fail fast while Redis is away (the 503 path), reconnect quickly when it is back. */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => 100,
};

const CLUSTER_FAIL_FAST: ClusterOptions = {
  enableOfflineQueue: false,
  clusterRetryStrategy: () => 100,
  redisOptions: { maxRetriesPerRequest: 0 },
};

async function connected<T extends Redis | Cluster>(client: T): Promise<T> {
  client.on('error', () => undefined);
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

/** Waits (bounded) until the store's near-cache reaches `serving`; fails with the state it saw. */
async function untilServing(store: RedisStore, serving = true, withinMs = 10_000): Promise<number> {
  const start = performance.now();
  while (store.localCacheStatus?.serving !== serving) {
    if (performance.now() - start > withinMs) {
      throw new Error(`near-cache serving stayed ${String(store.localCacheStatus?.serving)}, expected ${serving}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return performance.now() - start;
}

/** Counts every command a client sends (ioredis funnels them all through sendCommand). */
function countCommands(client: Redis): () => number {
  let sent = 0;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    sent++;
    return send(...args);
  }) as Redis['sendCommand'];
  return () => {
    const value = sent;
    sent = 0;
    return value;
  };
}

function create(set: Record<string, unknown>, ttl = 60_000): SessionWrite {
  return { mode: 'create', set: new Map(Object.entries(set)), delete: [], clear: false, createdAt: Date.now(), ttl };
}

function update(set: Record<string, unknown>, remove: string[] = [], ttl = 60_000): SessionWrite {
  return { mode: 'update', set: new Map(Object.entries(set)), delete: remove, clear: false, createdAt: 0, ttl };
}

async function dataOf(store: RedisStore, key: string): Promise<Record<string, unknown> | undefined> {
  const session = await store.get(key);
  return session && Object.fromEntries(session.data);
}

function percentile(sorted: number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))];
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;
  return `n=${sorted.length} min=${fmt(sorted[0])} median=${fmt(percentile(sorted, 0.5))} p99=${fmt(percentile(sorted, 0.99))} max=${fmt(sorted[sorted.length - 1])}`;
}

runStoreContract({
  name: 'redis near-cache',
  perKeyAcrossNodes: true,
  userIndex: true,
  async create() {
    const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('redis'), 6379);
    const prefix = `contract-nc:${randomBytes(6).toString('hex')}:`;
    // The subscriber is a duplicate of this client: it goes through the proxy too, so an
    // outage takes both away, as losing the server would.
    const client = await connected(new Redis(viaProxy.href, FAIL_FAST));
    const clients = [client];
    const stores: RedisStore[] = [];
    const store = new RedisStore({ client, prefix, localCache: { heartbeat: 0.2 } });
    stores.push(store);
    await untilServing(store);
    return {
      store,
      outage: { down: () => proxy.down(), up: () => proxy.up() },
      async sibling() {
        const other = await connected(new Redis(target.href, FAIL_FAST));
        clients.push(other);
        const sibling = new RedisStore({ client: other, prefix, localCache: true });
        stores.push(sibling);
        await untilServing(sibling);
        return sibling;
      },
      async close() {
        await Promise.all(stores.map((each) => each.onApplicationShutdown()));
        const cleaner = await connected(new Redis(target.href));
        const keys = await cleaner.keys(`${prefix}*`);
        if (keys.length > 0) await cleaner.del(...keys);
        cleaner.disconnect();
        for (const each of clients) each.disconnect();
        await proxy.down();
      },
    };
  },
});

function clusterSeeds(): { host: string; port: number }[] {
  return serviceUrl('redisCluster')
    .split(',')
    .map((node) => {
      const [host, port] = node.trim().split(':');
      return { host, port: Number(port) };
    });
}

runStoreContract({
  name: 'redis cluster near-cache',
  perKeyAcrossNodes: true,
  userIndex: true,
  async create() {
    const nodes = clusterSeeds();
    // Every node behind its own proxy; natMap sends the client (and its subscribers) through them.
    const proxies = await Promise.all(nodes.map((node) => TcpProxy.start(node)));
    const natMap = Object.fromEntries(nodes.map((node, i) => [`${node.host}:${node.port}`, { host: '127.0.0.1', port: proxies[i].port }]));
    const prefix = `contract-nc:${randomBytes(6).toString('hex')}:`;
    const client = await connected(
      new Cluster(
        proxies.map((proxy) => ({ host: '127.0.0.1', port: proxy.port })),
        { ...CLUSTER_FAIL_FAST, natMap },
      ),
    );
    const clients: Cluster[] = [client];
    const stores: RedisStore[] = [];
    const store = new RedisStore({ client, prefix, localCache: { heartbeat: 0.2 } });
    stores.push(store);
    await untilServing(store);
    return {
      store,
      outage: {
        down: async () => {
          await Promise.all(proxies.map((proxy) => proxy.down()));
        },
        up: async () => {
          await Promise.all(proxies.map((proxy) => proxy.up()));
        },
      },
      async sibling() {
        const other = await connected(new Cluster(nodes, CLUSTER_FAIL_FAST));
        clients.push(other);
        const sibling = new RedisStore({ client: other, prefix, localCache: true });
        stores.push(sibling);
        await untilServing(sibling);
        return sibling;
      },
      async close() {
        await Promise.all(stores.map((each) => each.onApplicationShutdown()));
        const cleaner = await connected(new Cluster(nodes));
        for (const master of cleaner.nodes('master')) {
          for (const key of await master.keys(`${prefix}*`)) await cleaner.del(key);
        }
        cleaner.disconnect();
        for (const each of clients) each.disconnect();
        await Promise.all(proxies.map((proxy) => proxy.down()));
      },
    };
  },
});

describe('RedisStore near-cache', () => {
  const url = (): string => serviceUrl('redis');
  const opened: Array<Redis | Cluster> = [];
  const stores: RedisStore[] = [];
  // Without Redis every case fails with the sentence that says how to get it.
  beforeEach(() => void serviceUrl('redis'));

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.onApplicationShutdown()));
    for (const client of opened.splice(0)) client.disconnect();
  });

  async function client(href = url(), options: RedisOptions = FAIL_FAST): Promise<Redis> {
    const made = await connected(new Redis(href, options));
    opened.push(made);
    return made;
  }

  /** A node: its own client (commands counted) and near-cache, sharing `prefix` with its peers. */
  async function node(prefix: string, localCache: ConstructorParameters<typeof RedisStore>[0]['localCache'] = true) {
    const redis = await client();
    const commands = countCommands(redis);
    const store = new RedisStore({ client: redis, prefix, localCache });
    stores.push(store);
    await untilServing(store);
    commands();
    return { store, commands, redis };
  }

  const freshPrefix = (): string => `nc:${randomBytes(6).toString('hex')}:`;

  afterAll(async () => {
    const cleaner = await connected(new Redis(url()));
    const keys = await cleaner.keys('nc:*');
    if (keys.length > 0) await cleaner.del(...keys);
    cleaner.disconnect();
  });

  it('answers a cached read with no round trip; a miss costs one; own writes keep the entry current', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const b = await node(prefix);
    await a.store.write('s1', create({ user: 'ada' }));
    expect(a.commands()).toBe(1);
    // The node that created the session holds it already.
    expect(await dataOf(a.store, 's1')).toEqual({ user: 'ada' });
    expect(a.commands()).toBe(0);
    // Another node reads it once from Redis, then from memory.
    expect(await dataOf(b.store, 's1')).toEqual({ user: 'ada' });
    expect(b.commands()).toBe(1);
    for (let i = 0; i < 5; i++) expect(await dataOf(b.store, 's1')).toEqual({ user: 'ada' });
    expect(b.commands()).toBe(0);
    // B's own update: one round trip for the commit, none for the read after it.
    expect(await b.store.write('s1', update({ n: 1 }))).toBe(true);
    expect(b.commands()).toBe(1);
    expect(await dataOf(b.store, 's1')).toEqual({ user: 'ada', n: 1 });
    expect(b.commands()).toBe(0);
    // ...while A's copy was dropped by B's invalidation: A asks Redis and sees the update.
    expect(await dataOf(a.store, 's1')).toEqual({ user: 'ada', n: 1 });
    expect(a.commands()).toBe(1);
    expect(b.store.localCacheStatus).toMatchObject({ serving: true, entries: 1, hits: 6, misses: 1 });
  });

  it('hands out copies: changing a value read from the cache does not change the cache', async () => {
    const { store } = await node(freshPrefix());
    await store.write('s', create({ list: [1, 2] }));
    const first = await store.get('s');
    (first?.data.get('list') as number[]).push(3);
    first?.data.set('added', true);
    expect(await dataOf(store, 's')).toEqual({ list: [1, 2] });
  });

  // 601 HTTP round trips in sequence: 3.4 s on an idle machine, over the 5 s default when the
  // suite's other files share the cores. The bound is on correctness (stale === 0), not on time.
  it('two apps: a write acknowledged on A is read on B at once, every time; a destroy on A ends it on B', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const b = await node(prefix);
    const apps: INestApplication[] = [];
    try {
      apps.push(await startApp('express', appModule(a.store, {})));
      apps.push(await startApp('express', appModule(b.store, {})));
      const [onA, onB] = apps.map((app) => app.getHttpServer());
      const id = cookieValue(await request(onA).post('/set').send({ key: 'v', value: 0 })) as string;
      const cookie = `session_id=${id}`;
      let stale = 0;
      for (let i = 1; i <= 200; i++) {
        // B reads (and caches) the current value, A changes it, B must see the change.
        expect((await request(onB).get('/get/v').set('Cookie', cookie)).body).toEqual({ value: i - 1 });
        expect((await request(onA).post('/set').send({ key: 'v', value: i }).set('Cookie', cookie)).status).toBe(200);
        const read = await request(onB).get('/get/v').set('Cookie', cookie);
        if ((read.body as { value: unknown }).value !== i) stale++;
      }
      expect(stale).toBe(0);
      // B served from its cache in between (one hit per pair of reads at least).
      expect(b.store.localCacheStatus?.hits).toBeGreaterThanOrEqual(199);

      expect((await request(onB).get('/read').set('Cookie', cookie)).body).toEqual({ id, isNew: false, data: { v: 200 } });
      expect((await request(onA).post('/destroy').set('Cookie', cookie)).status).toBe(200);
      expect((await request(onB).get('/read').set('Cookie', cookie)).body).toEqual({ id: expect.any(String), isNew: true, data: {} });
      expect(await b.store.get(storeKeyOf(id))).toBeUndefined();
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  }, 30_000);

  it("does not cache a read that raced another node's write (its answer predates the invalidation)", async () => {
    const prefix = freshPrefix();
    const subscriber = await client();
    const redis = await client();
    // A's LOAD answers are held back until we let them go.
    let hold: Promise<void> | undefined;
    // (The store's scripts are ioredis commands, and ioredis sends every command through sendCommand.)
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = (async (...args: Parameters<Redis['sendCommand']>) => {
      const reply = await send(...args);
      if (hold !== undefined) await hold;
      return reply;
    }) as Redis['sendCommand'];
    const a = new RedisStore({ client: redis, prefix, localCache: { subscriber } });
    stores.push(a);
    await untilServing(a);
    const b = await node(prefix);
    await b.store.write('s', create({ v: 'old' }));

    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    const racing = a.get('s');
    // Let A's LOAD reach Redis and answer (held in the client), then B writes and A hears of it.
    await sleep(50);
    const heard = once(subscriber, 'message');
    expect(await b.store.write('s', update({ v: 'new' }))).toBe(true);
    await heard;
    hold = undefined;
    release();
    // The held answer was read before B's write: handing it out is fine, caching it is not.
    expect(Object.fromEntries((await racing)?.data ?? [])).toEqual({ v: 'old' });
    expect(await dataOf(a, 's')).toEqual({ v: 'new' });
    expect(await dataOf(a, 's')).toEqual({ v: 'new' });
  });

  it('subscriber down: stops serving and empties itself, reads go to Redis and are right, serves again once resubscribed', async () => {
    const prefix = freshPrefix();
    const target = new URL(url());
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 6379) });
    try {
      const subscriber = await client(`redis://127.0.0.1:${proxy.port}`, { retryStrategy: () => 50 });
      const redis = await client();
      const commands = countCommands(redis);
      const a = new RedisStore({ client: redis, prefix, localCache: { subscriber } });
      stores.push(a);
      await untilServing(a);
      const b = await node(prefix);
      await b.store.write('s', create({ v: 1 }));
      expect(await dataOf(a, 's')).toEqual({ v: 1 });
      expect(await dataOf(a, 's')).toEqual({ v: 1 });
      expect(commands()).toBe(1);

      const downAt = performance.now();
      await proxy.down();
      const stoppedAfter = await untilServing(a, false);
      console.log(
        `near-cache stopped serving ${(performance.now() - downAt).toFixed(3)} ms after the subscriber connection was reset (${stoppedAfter.toFixed(3)} ms after down() returned)`,
      );
      expect(a.localCacheStatus?.entries).toBe(0);
      // B's invalidation cannot reach A now; A must not need it.
      expect(await b.store.write('s', update({ v: 2 }))).toBe(true);
      for (let i = 0; i < 3; i++) expect(await dataOf(a, 's')).toEqual({ v: 2 });
      expect(commands()).toBe(3);
      expect(a.localCacheStatus?.entries).toBe(0);

      await proxy.up();
      await untilServing(a);
      expect(await dataOf(a, 's')).toEqual({ v: 2 });
      expect(await dataOf(a, 's')).toEqual({ v: 2 });
      expect(commands()).toBe(1);
      // (A's subscriber takes an extra hop through the proxy here: wait for it to hear B.)
      const heard = once(subscriber, 'message');
      expect(await b.store.write('s', update({ v: 3 }))).toBe(true);
      await heard;
      expect(await dataOf(a, 's')).toEqual({ v: 3 });
      expect(commands()).toBe(1);
    } finally {
      await proxy.down();
    }
  });

  it('a subscriber that stops answering (silent link) stops the cache until it answers again', async () => {
    const prefix = freshPrefix();
    const subscriber = await client();
    const redis = await client();
    const commands = countCommands(redis);
    const a = new RedisStore({ client: redis, prefix, localCache: { subscriber, heartbeat: 0.05 } });
    stores.push(a);
    await untilServing(a);
    const b = await node(prefix);
    await b.store.write('s', create({ v: 1 }));
    expect(await dataOf(a, 's')).toEqual({ v: 1 });
    commands();

    // Nothing arrives any more, but the connection looks open: only the heartbeat can tell.
    subscriber.stream.pause();
    const stoppedAfter = await untilServing(a, false);
    console.log(`near-cache stopped serving ${stoppedAfter.toFixed(3)} ms after its subscriber went silent (heartbeat 50 ms)`);
    expect(await b.store.write('s', update({ v: 2 }))).toBe(true);
    expect(await dataOf(a, 's')).toEqual({ v: 2 });
    expect(commands()).toBe(1);

    subscriber.stream.resume();
    await untilServing(a);
    expect(await dataOf(a, 's')).toEqual({ v: 2 });
    expect(await dataOf(a, 's')).toEqual({ v: 2 });
    expect(commands()).toBe(1);
  });

  it('holds at most maxEntries sessions and lets the least recently used go first', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix, { maxEntries: 3 });
    const b = await node(prefix);
    for (let i = 1; i <= 5; i++) await b.store.write(`s${i}`, create({ i }));
    for (let i = 1; i <= 5; i++) expect(await dataOf(a.store, `s${i}`)).toEqual({ i });
    expect(a.commands()).toBe(5);
    expect(a.store.localCacheStatus?.entries).toBe(3);
    expect(await dataOf(a.store, 's5')).toEqual({ i: 5 });
    expect(await dataOf(a.store, 's3')).toEqual({ i: 3 });
    expect(a.commands()).toBe(0);
    // s1 went first; bringing it back pushes out s4, the least recently used now.
    expect(await dataOf(a.store, 's1')).toEqual({ i: 1 });
    expect(a.commands()).toBe(1);
    expect(await dataOf(a.store, 's4')).toEqual({ i: 4 });
    expect(a.commands()).toBe(1);
    expect(a.store.localCacheStatus?.entries).toBe(3);
  });

  it('never serves a session past its expiry, nor an entry older than the cache ttl', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix, { ttl: 0.3 });
    await a.store.write('short', create({ v: 1 }, 250));
    expect(await dataOf(a.store, 'short')).toEqual({ v: 1 });
    expect(a.commands()).toBe(1);
    await sleep(300);
    expect(await a.store.get('short')).toBeUndefined();

    await a.store.write('long', create({ v: 1 }));
    expect(await dataOf(a.store, 'long')).toEqual({ v: 1 });
    a.commands();
    // A change behind the store's back (no invalidation) shows once the entry is older than ttl.
    await a.redis.hset(`${prefix}long`, 'd:v', '2');
    expect(await dataOf(a.store, 'long')).toEqual({ v: 1 });
    await sleep(350);
    expect(await dataOf(a.store, 'long')).toEqual({ v: 2 });
  });

  it('measures the staleness window: an acknowledged write on A until B has dropped its copy (1,000 samples)', async () => {
    const prefix = freshPrefix();
    const a = await node(prefix);
    const subscriber = await client();
    const b = new RedisStore({ client: await client(), prefix, localCache: { subscriber } });
    stores.push(b);
    await untilServing(b);
    // Registered after the store's own listener: when it runs, B has already dropped the entry.
    let droppedAt: number;
    subscriber.on('message', () => (droppedAt = performance.now()));
    await a.store.write('s', create({ v: 0 }));
    const windows: number[] = [];
    for (let i = 1; i <= 1000; i++) {
      expect(await dataOf(b, 's')).toEqual({ v: i - 1 });
      expect(b.localCacheStatus?.entries).toBe(1);
      droppedAt = 0;
      await a.store.write('s', update({ v: i }));
      const ackedAt = performance.now();
      while (droppedAt === 0) await new Promise((resolve) => setImmediate(resolve));
      windows.push(droppedAt - ackedAt);
      expect(b.localCacheStatus?.entries).toBe(0);
    }
    console.log(`staleness window (B dropped - A acknowledged; negative: dropped before the ack): ${summary(windows)}`);
  });

  it('closes the subscriber it opened at shutdown; never the client, nor a subscriber passed in', async () => {
    const prefix = freshPrefix();
    const observer = await client();
    const subscribers = async (): Promise<number> =>
      Number(((await observer.call('PUBSUB', 'NUMSUB', `${prefix}invalidate`)) as [string, number])[1]);
    const own = await client();
    const store = new RedisStore({ client: own, prefix, localCache: true });
    await untilServing(store);
    expect(await subscribers()).toBe(1);
    const app = await startApp('express', appModule(store, {}));
    await app.close();
    expect(store.localCacheStatus?.serving).toBe(false);
    for (let attempt = 0; attempt < 100 && (await subscribers()) > 0; attempt++) await sleep(20);
    expect(await subscribers()).toBe(0);
    expect(await own.ping()).toBe('PONG');
    // Without the cache the store still works.
    await store.write('s', create({ v: 1 }));
    expect(await dataOf(store, 's')).toEqual({ v: 1 });

    const passed = await client();
    const other = new RedisStore({ client: own, prefix, localCache: { subscriber: passed } });
    await untilServing(other);
    expect(await subscribers()).toBe(1);
    await other.onApplicationShutdown();
    expect(await subscribers()).toBe(0);
    expect(passed.status).toBe('ready');
    expect(await passed.ping()).toBe('PONG');
  });

  it('refuses bad options at construction with one sentence each; off by default', async () => {
    const redis = await client();
    expect(() => new RedisStore({ client: redis, localCache: { maxEntries: 0 } })).toThrow(
      'RedisStore localCache.maxEntries must be a positive integer, got 0',
    );
    expect(() => new RedisStore({ client: redis, localCache: { ttl: -1 } })).toThrow(
      'RedisStore localCache.ttl must be a positive number of seconds, got -1',
    );
    expect(() => new RedisStore({ client: redis, localCache: { heartbeat: Number.NaN } })).toThrow(
      'RedisStore localCache.heartbeat must be a positive number of seconds, got NaN',
    );
    expect(() => new RedisStore({ client: redis, localCache: { subscriber: {} as Redis } })).toThrow(
      'RedisStore localCache.subscriber must be an ioredis Redis connection (not a Cluster)',
    );
    expect(() => new RedisStore({ client: redis, localCache: 'yes' as never })).toThrow(
      'RedisStore localCache must be true, false or an options object, got yes',
    );
    expect(new RedisStore({ client: redis }).localCacheStatus).toBeUndefined();
  });
});

describe('RedisStore near-cache on Redis Cluster', () => {
  beforeEach(() => void serviceUrl('redisCluster'));

  it("a write on one node invalidates the other node's copy, for sessions on every master", async () => {
    const prefix = `nc-cluster:${randomBytes(6).toString('hex')}:`;
    const seeds = clusterSeeds();
    const clients = [await connected(new Cluster(seeds)), await connected(new Cluster(seeds))];
    const [a, b] = clients.map((cluster) => new RedisStore({ client: cluster, prefix, localCache: true }));
    try {
      await untilServing(a);
      await untilServing(b);
      const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
      const slots = await Promise.all(keys.map(async (key) => Number(await clients[0].call('CLUSTER', 'KEYSLOT', prefix + key))));
      const masters = new Set(slots.map((slot) => clients[0].slots[slot][0]));
      expect(masters.size).toBe(clients[0].nodes('master').length);
      for (const key of keys) await a.write(key, create({ v: 0 }));
      let staleAtOnce = 0;
      for (let round = 1; round <= 5; round++) {
        for (const key of keys) {
          // On a loaded machine a late heartbeat can empty B's cache for a moment (by design:
          // it stops serving rather than risk stale data); read until B holds a copy again.
          let cached = false;
          for (let attempt = 0; attempt < 200 && !cached; attempt++) {
            if (attempt > 0) await untilServing(b);
            expect(await dataOf(b, key)).toEqual({ v: round - 1 });
            cached = (b.localCacheStatus?.entries ?? 0) > 0;
          }
          expect(cached).toBe(true);
          const before = b.localCacheStatus?.entries ?? 0;
          expect(await a.write(key, update({ v: round }))).toBe(true);
          // The invalidation reaches B from whichever master holds the key (bounded wait: a
          // missing subscription would leave B's copy in place for the whole cache ttl).
          for (let turn = 0; turn < 10_000 && (b.localCacheStatus?.entries ?? 0) >= before; turn++) {
            if (turn === 0 && (await dataOf(b, key))?.v !== round) staleAtOnce++;
            await new Promise((resolve) => setImmediate(resolve));
          }
          expect(await dataOf(b, key)).toEqual({ v: round });
        }
      }
      console.log(
        `cluster: ${staleAtOnce} of ${keys.length * 5} reads on B right after A's acknowledged write (same process, no hop) were answered before B had dropped its copy`,
      );
      expect(b.localCacheStatus?.hits).toBeGreaterThan(0);
      await a.destroy(keys[0]);
      for (let turn = 0; turn < 10_000 && (await b.get(keys[0])) !== undefined; turn++) await sleep(1);
      expect(await b.get(keys[0])).toBeUndefined();
    } finally {
      await a.onApplicationShutdown();
      await b.onApplicationShutdown();
      for (const master of clients[0].nodes('master')) {
        for (const key of await master.keys(`${prefix}*`)) await clients[0].del(key);
      }
      for (const cluster of clients) cluster.disconnect();
    }
  });
});
