/**
 * The `storeTimeout` deadline against stores that stop answering: the connection stays open
 * and nothing comes back (`TcpProxy.pause()`), the outage that refused-connection tests miss.
 * The clients are configured without timeouts of their own (no ioredis `commandTimeout`, no pg
 * `query_timeout` or `connectionTimeoutMillis`), so the deadline is the library's alone.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Body, Controller, HttpCode, type INestApplication, Post } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import request, { type Response } from 'supertest';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { Session, type SessionStore, fromExpressSessionStore } from '@novanest/session';
import { PostgresStore } from '@novanest/session/postgres';
import { RedisStore } from '@novanest/session/redis';
import { cookieValue, setCookieFor } from './support/cookies.js';
import { PLATFORMS, startApp } from './support/platforms.js';
import { sessionTestModule } from './support/session-test.controller.js';
import { serviceUrl, sleep } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

const STORE_TIMEOUT = 400;
/** How late past the deadline a 503 may arrive on a busy two-core machine. */
const SLACK = 1000;
const STORE_DOWN_MESSAGE = 'Session store unavailable; please retry shortly.';

interface Fixture {
  store: SessionStore;
  /** The proxies between the client and the server, to stall and resume. */
  proxies: TcpProxy[];
  close(): Promise<void>;
}

interface Target {
  name: string;
  create(): Promise<Fixture>;
}

function seedNodes(): { host: string; port: number }[] {
  return serviceUrl('redisCluster')
    .split(',')
    .map((node) => {
      const [host, port] = node.trim().split(':');
      return { host, port: Number(port) };
    });
}

const TARGETS: Target[] = [
  {
    name: 'redis',
    async create() {
      const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('redis'), 6379);
      const prefix = `deadline:${randomBytes(6).toString('hex')}:`;
      const client = new Redis(viaProxy.href, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      if (client.status !== 'ready') await once(client, 'ready');
      return {
        store: new RedisStore({ client, prefix }),
        proxies: [proxy],
        async close() {
          client.disconnect();
          const cleaner = new Redis(target.href);
          const keys = await cleaner.keys(`${prefix}*`);
          if (keys.length > 0) await cleaner.del(...keys);
          cleaner.disconnect();
          await proxy.down();
        },
      };
    },
  },
  {
    name: 'redis cluster',
    async create() {
      const nodes = seedNodes();
      const proxies = await Promise.all(nodes.map((node) => TcpProxy.start(node)));
      const natMap = Object.fromEntries(
        nodes.map((node, i) => [`${node.host}:${node.port}`, { host: '127.0.0.1', port: proxies[i].port }]),
      );
      const prefix = `deadline:${randomBytes(6).toString('hex')}:`;
      const client = new Cluster(
        proxies.map((proxy) => ({ host: '127.0.0.1', port: proxy.port })),
        { enableOfflineQueue: false, natMap, redisOptions: { maxRetriesPerRequest: 1 } },
      );
      client.on('error', () => undefined);
      if (client.status !== 'ready') await once(client, 'ready');
      return {
        store: new RedisStore({ client, prefix }),
        proxies,
        async close() {
          client.disconnect();
          const cleaner = new Cluster(nodes);
          await once(cleaner, 'ready');
          for (const master of cleaner.nodes('master')) {
            for (const key of await master.keys(`${prefix}*`)) await cleaner.del(key);
          }
          cleaner.disconnect();
          await Promise.all(proxies.map((proxy) => proxy.down()));
        },
      };
    },
  },
  {
    // An adapter: the deadline holds for stores the library only wraps.
    name: 'express-session adapter (connect-redis)',
    async create() {
      const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('redis'), 6379);
      const prefix = `deadline-connect:${randomBytes(6).toString('hex')}:`;
      const client = createClient({ url: viaProxy.href, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100 } });
      client.on('error', () => undefined);
      await client.connect();
      return {
        store: fromExpressSessionStore(new ConnectRedisStore({ client, prefix })),
        proxies: [proxy],
        async close() {
          client.destroy();
          const cleaner = new Redis(target.href);
          const keys = await cleaner.keys(`${prefix}*`);
          if (keys.length > 0) await cleaner.del(...keys);
          cleaner.disconnect();
          await proxy.down();
        },
      };
    },
  },
  {
    name: 'postgres',
    async create() {
      const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('postgres'), 5432);
      const table = `deadline_${randomBytes(6).toString('hex')}`;
      const pool = new pg.Pool({ connectionString: viaProxy.href, max: 10 });
      pool.on('error', () => undefined);
      return {
        store: new PostgresStore({ pool, table, createTable: true }),
        proxies: [proxy],
        async close() {
          const admin = new pg.Client({ connectionString: target.href });
          await admin.connect();
          await admin.query(`DROP TABLE IF EXISTS "${table}"`);
          await admin.end();
          await proxy.down();
          await pool.end().catch(() => undefined);
        },
      };
    },
  },
];

/** A request that loads its session, waits, then writes: the proxy can stall between the two. */
@Controller()
class DeadlineController {
  @Post('load-then-set')
  @HttpCode(200)
  async loadThenSet(@Session() session: Session, @Body() body: { key: string; value: unknown; delayMs: number }) {
    await session.load();
    loadThenSet.loaded();
    await sleep(body.delayMs);
    await session.set(body.key, body.value);
    loadThenSet.returnedAt = performance.now();
    return { ok: true };
  }
}

const withId = (id: string): string => `session_id=${id}`;

/**
 * What the load-then-set handler reports to the test (the app runs in this process): when its
 * load was answered, so the test stalls the store only then, and when it returned, from which
 * the commit's time is counted. Loaded machines make any fixed sleep too short for either.
 */
const loadThenSet = { loaded: (): void => undefined, returnedAt: 0 };

/** Runs `call`, resolving with its response and how long it took. */
async function timed(call: () => PromiseLike<Response>): Promise<{ response: Response; ms: number; endedAt: number }> {
  const started = performance.now();
  const response = await call();
  const endedAt = performance.now();
  return { response, ms: endedAt - started, endedAt };
}

function expectDeadline503({ response, ms }: { response: Response; ms: number }, what: string): void {
  expect(response.status, `${what}: status`).toBe(503);
  expect(response.body.message, `${what}: message`).toBe(STORE_DOWN_MESSAGE);
  expect(setCookieFor(response), `${what}: no Set-Cookie`).toBeUndefined();
  // It waited for the deadline (the store never refused anything) and not much longer.
  expect(ms, `${what}: answered after ${Math.round(ms)} ms`).toBeGreaterThanOrEqual(STORE_TIMEOUT - 20);
  expect(ms, `${what}: answered after ${Math.round(ms)} ms`).toBeLessThan(STORE_TIMEOUT + SLACK);
}

describe.each(TARGETS)('storeTimeout on $name', (target) => {
  describe.each(PLATFORMS)('on %s', (platform) => {
    let fixture: Fixture;
    let app: INestApplication;
    let server: ReturnType<INestApplication['getHttpServer']>;

    beforeAll(async () => {
      fixture = await target.create();
      app = await startApp(platform, sessionTestModule(fixture.store, { storeTimeout: STORE_TIMEOUT }, DeadlineController));
      server = app.getHttpServer();
    });

    afterAll(async () => {
      for (const proxy of fixture?.proxies ?? []) proxy.resume();
      await app?.close();
      await fixture?.close();
    });

    const pause = (): void => fixture.proxies.forEach((proxy) => proxy.pause());
    const resume = (): void => fixture.proxies.forEach((proxy) => proxy.resume());

    async function newSession(key: string, value: unknown): Promise<string> {
      const response = await request(server).post('/set').send({ key, value });
      expect(response.status).toBe(200);
      const id = cookieValue(response);
      expect(id).toBeDefined();
      return id!;
    }

    async function readWhenBack(id: string): Promise<Record<string, unknown>> {
      for (let attempt = 0; attempt < 100; attempt++) {
        const response = await request(server).get('/read').set('Cookie', withId(id));
        if (response.status === 200) return (response.body as { data: Record<string, unknown> }).data;
        await sleep(50);
      }
      throw new Error(`${target.name} did not come back within 5 s of the proxy forwarding again`);
    }

    it('a store that stops answering: loads, commits and new sessions answer 503 within the deadline', async () => {
      const id = await newSession('user', 'ada');
      // The load is answered, then the store stalls before the commit.
      // (timed() sends the request at once; a supertest request waits until awaited.)
      const loaded = new Promise<void>((resolve) => (loadThenSet.loaded = resolve));
      const stalledCommit = timed(() =>
        request(server).post('/load-then-set').set('Cookie', withId(id)).send({ key: 'late', value: 1, delayMs: 300 }),
      );
      await loaded;
      pause();
      try {
        const commit = await stalledCommit;
        // The deadline counts from the commit, which starts when the handler returns.
        expectDeadline503({ response: commit.response, ms: commit.endedAt - loadThenSet.returnedAt }, 'commit');

        expectDeadline503(await timed(() => request(server).get('/read').set('Cookie', withId(id))), 'load');
        expectDeadline503(await timed(() => request(server).post('/set').send({ key: 'fresh', value: 1 })), 'new session');
        const parallel = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            timed(() =>
              request(server)
                .post('/set')
                .set('Cookie', withId(id))
                .send({ key: `p${i}`, value: i }),
            ),
          ),
        );
        parallel.forEach((each, i) => expectDeadline503(each, `parallel write ${i}`));

        // The process serves what needs no store meanwhile.
        const untouched = await timed(() => request(server).get('/untouched'));
        expect(untouched.response.status).toBe(200);
        expect(untouched.ms).toBeLessThan(STORE_TIMEOUT);
      } finally {
        resume();
      }
      const data = await readWhenBack(id);
      expect(data.user).toBe('ada');
      // Late writes may land once the store answers (the requests said 503, nothing more):
      // an update of this live session, never anything else.
      for (const key of Object.keys(data)) expect(['user', 'late', 'p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']).toContain(key);
    });

    it('under load: every acknowledged write survives a stall, and it recovers with no restart', async () => {
      const id = await newSession('start', 0);
      const acknowledged = new Map<string, number>();
      const failed: number[] = [];
      const durations: number[] = [];
      let next = 0;
      let running = true;
      async function writer(): Promise<void> {
        while (running) {
          const n = next++;
          const { response, ms } = await timed(() =>
            request(server)
              .post('/set')
              .set('Cookie', withId(id))
              .send({ key: `k${n}`, value: n }),
          );
          durations.push(ms);
          if (response.status === 200) acknowledged.set(`k${n}`, n);
          else {
            expect(response.status).toBe(503);
            failed.push(n);
          }
        }
      }
      const writers = Array.from({ length: 4 }, () => writer());
      await sleep(300);
      const beforeStall = acknowledged.size;
      pause();
      await sleep(1500);
      const duringStall = acknowledged.size;
      resume();
      // Recovered: writes are acknowledged again without touching the app or the client.
      const resumedAt = Date.now();
      while (acknowledged.size === duringStall && Date.now() - resumedAt < 5000) await sleep(20);
      const recoveredMs = Date.now() - resumedAt;
      await sleep(300);
      running = false;
      await Promise.all(writers);

      expect(beforeStall).toBeGreaterThan(0);
      expect(failed.length).toBeGreaterThan(0);
      expect(acknowledged.size).toBeGreaterThan(duringStall);
      expect(recoveredMs).toBeLessThan(5000);
      expect(Math.max(...durations)).toBeLessThan(STORE_TIMEOUT + SLACK);

      const data = await readWhenBack(id);
      for (const [key, value] of acknowledged) expect(data[key], `acknowledged ${key}`).toBe(value);
      console.info(
        `${target.name} on ${platform}: ${acknowledged.size} writes acknowledged, ${failed.length} answered 503 ` +
          `(slowest ${Math.round(Math.max(...durations))} ms, deadline ${STORE_TIMEOUT} ms), writes acknowledged again ${recoveredMs} ms after the store answered`,
      );
    });
  });
});
