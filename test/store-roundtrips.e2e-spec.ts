/**
 * Store round trips per request, measured on the wire: Redis commands seen by MONITOR and
 * PostgreSQL statements sent through the pool. Asserted, so a regression shows; printed, so
 * the figures can be quoted.
 */
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import session from 'express-session';
import { type NovaStoreBackend, type SessionStore, fromExpressSessionStore, fromNovaStore } from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { PostgresStore } from '@novanest/session/postgres';
import { cookieValue } from './support/cookies.js';
import { startApp } from './support/platforms.js';
import { appModule, serviceUrl, sleep } from './support/store-contract.js';

interface Counter {
  /** Round trips counted since the last call. */
  take(): Promise<number>;
}

/** The requests measured, with the round trips a per-key store is expected to need. */
const SCENARIOS = [
  { name: 'route that never touches the session', expected: 0 },
  { name: 'new visitor reads (no cookie)', expected: 0 },
  { name: 'new visitor first writes with the id it was issued (load + adopt; the adapters: load + create under a fresh id)', expected: 2 },
  { name: 'new visitor writes (create)', expected: 1 },
  { name: 'returning visitor reads', expected: 1 },
  { name: 'returning visitor writes (load + commit)', expected: 2 },
  { name: 'logout (destroy, no load)', expected: 1 },
  { name: 'login (regenerate: load + destroy old + create new)', expected: 3 },
] as const;

async function measure(app: INestApplication, counter: Counter): Promise<number[]> {
  const server = app.getHttpServer();
  const counts: number[] = [];
  const step = async (run: () => Promise<unknown>): Promise<void> => {
    await counter.take();
    await run();
    counts.push(await counter.take());
  };
  let id = '';
  let issued = '';
  await step(() => request(server).get('/untouched'));
  await step(async () => {
    issued = cookieValue(await request(server).get('/read')) as string;
  });
  await step(() => request(server).post('/set').send({ key: 'first', value: 1 }).set('Cookie', `session_id=${issued}`));
  await step(async () => {
    id = cookieValue(await request(server).post('/set').send({ key: 'a', value: 1 })) as string;
  });
  await step(() => request(server).get('/read').set('Cookie', `session_id=${id}`));
  await step(() => request(server).post('/set').send({ key: 'b', value: 2 }).set('Cookie', `session_id=${id}`));
  await step(() => request(server).post('/destroy').set('Cookie', `session_id=${id}`));
  await step(async () => {
    id = cookieValue(await request(server).post('/set').send({ key: 'a', value: 1 })) as string;
  });
  counts.pop();
  await step(() => request(server).post('/regenerate').set('Cookie', `session_id=${id}`));
  return counts;
}

function report(store: string, counts: number[]): void {
  const lines = SCENARIOS.map((scenario, i) => `  ${scenario.name}: ${counts[i]}`);
  console.log(`${store} round trips per request:\n${lines.join('\n')}`);
}

async function run(
  store: SessionStore,
  counter: Counter,
  name: string,
  expected: readonly number[] = SCENARIOS.map((scenario) => scenario.expected),
): Promise<void> {
  const app = await startApp('express', appModule(store, {}));
  try {
    // Warm-up: table creation, script loading and connection set-up are not per request.
    // (A fresh Redis answers the first EVALSHA of each script with NOSCRIPT: one extra trip, once.)
    const warm = await request(app.getHttpServer()).post('/set').send({ key: 'w', value: 0 });
    expect(warm.status).toBe(200);
    const warmId = cookieValue(warm) as string;
    const again = await request(app.getHttpServer()).get('/read').set('Cookie', `session_id=${warmId}`);
    expect(again.status).toBe(200);
    const counts = await measure(app, counter);
    report(name, counts);
    expect(counts).toEqual(expected);
  } finally {
    await app.close();
  }
}

describe('round trips per request', () => {
  it('RedisStore: one per load, one per commit (MONITOR)', async () => {
    const url = serviceUrl('redis');
    const prefix = `rt:${randomBytes(6).toString('hex')}:`;
    const client = new Redis(url);
    const monitorClient = new Redis(url);
    const monitor = await monitorClient.monitor();
    let seen = 0;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      // Commands a script runs inside Redis show up with source "lua": not round trips.
      if (source === 'lua') return;
      if (args.some((arg) => typeof arg === 'string' && arg.startsWith(prefix))) seen++;
    });
    const counter: Counter = {
      async take() {
        // MONITOR lines arrive asynchronously; a PING through the same server orders them.
        await client.ping();
        await sleep(20);
        const value = seen;
        seen = 0;
        return value;
      },
    };
    try {
      await run(new RedisStore({ client, prefix }), counter, 'RedisStore');
    } finally {
      monitor.disconnect();
      monitorClient.disconnect();
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      client.disconnect();
    }
  });

  it('PostgresStore: one statement per load, one per commit', async () => {
    const pool = new pg.Pool({ connectionString: serviceUrl('postgres') });
    const table = `rt_${randomBytes(6).toString('hex')}`;
    let seen = 0;
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      seen++;
      return query(...args);
    };
    const counter: Counter = {
      async take() {
        const value = seen;
        seen = 0;
        return value;
      },
    };
    try {
      await run(new PostgresStore({ pool, table, createTable: true }), counter, 'PostgresStore');
    } finally {
      await query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    }
  });
});

describe('backend calls per request of the adapters (each call is a round trip on a networked backend)', () => {
  function counting<T extends object>(target: T, methods: (keyof T)[]): { proxy: T; counter: Counter } {
    let seen = 0;
    const proxy = Object.create(target) as T;
    for (const method of methods) {
      const original = target[method] as (...args: unknown[]) => unknown;
      (proxy as Record<keyof T, unknown>)[method] = (...args: unknown[]) => {
        seen++;
        return original.apply(target, args);
      };
    }
    return {
      proxy,
      counter: {
        async take() {
          const value = seen;
          seen = 0;
          return value;
        },
      },
    };
  }

  it('Nova-style adapter: bookkeeping field plus one call per key', async () => {
    const data = new Map<string, Map<string, unknown>>();
    const backend: NovaStoreBackend = {
      getValue: async (id, key) => data.get(id)?.get(key),
      setValue: async (id, key, value) => {
        data.set(id, (data.get(id) ?? new Map()).set(key, value));
      },
      deleteValue: async (id, key) => {
        if (key === undefined) data.delete(id);
        else data.get(id)?.delete(key);
      },
    };
    const { proxy, counter } = counting(backend, ['getValue', 'setValue', 'deleteValue']);
    // create: 1 value + bookkeeping; first write under the issued id: load (bookkeeping, none
    // found) + create (2) under a fresh id, as the adapter cannot adopt; read: bookkeeping + 1
    // key; write: load (2) + bookkeeping read, 1 value, bookkeeping write; regenerate: load (2)
    // + destroy + create (2).
    await run(fromNovaStore(proxy), counter, 'Nova-style adapter', [0, 0, 3, 2, 2, 5, 1, 5]);
  });

  it('express-session adapter: whole-object read-modify-write', async () => {
    const { proxy, counter } = counting(new session.MemoryStore(), ['get', 'set', 'destroy', 'touch']);
    // first write under the issued id: load (none found) + set under a fresh id (the adapter
    // cannot adopt); write: load + (read again under the lock + set); regenerate: load +
    // destroy + set.
    await run(fromExpressSessionStore(proxy), counter, 'express-session adapter', [0, 0, 2, 1, 1, 3, 1, 3]);
  });
});
