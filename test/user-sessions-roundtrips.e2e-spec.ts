/**
 * Round trips of a user's sessions, measured on the wire as `store-roundtrips.e2e-spec.ts`
 * measures the rest (Redis commands seen by MONITOR, PostgreSQL statements sent through the
 * pool): login with `bindUser`, an ordinary write of a bound session, the list, revoking one,
 * and revoking the others. Asserted, so a regression shows; printed, so the figures can be quoted.
 */
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import type { SessionStore, UserSessionInfo } from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { PostgresStore } from '@novanest/session/postgres';
import { cookieValue } from './support/cookies.js';
import { startApp } from './support/platforms.js';
import { appModule, serviceUrl, sleep } from './support/store-contract.js';

interface Counter {
  /** Round trips counted since the last call. */
  take(): Promise<number>;
}

const STEPS = [
  'login of a visitor with a session (load + destroy old + bind + create new)',
  'ordinary write of a bound session (load + commit)',
  'list two sessions (load + list)',
  'revoke one of two (load + list + destroy)',
  'revoke the others, two of three (load + list + 2 destroys)',
] as const;

async function measure(app: INestApplication, counter: Counter): Promise<number[]> {
  const server = app.getHttpServer();
  const counts: number[] = [];
  const user = `user-${randomBytes(4).toString('hex')}`;
  const withId = (id: string): string => `session_id=${id}`;
  const login = async (id?: string): Promise<string> => {
    const call = request(server).post('/user/login').set('User-Agent', 'rt').send({ user });
    const response = await (id === undefined ? call : call.set('Cookie', withId(id)));
    expect(response.status).toBe(200);
    return cookieValue(response) as string;
  };
  const step = async (run: () => Promise<unknown>): Promise<void> => {
    await counter.take();
    await run();
    counts.push(await counter.take());
  };
  const anonymous = cookieValue(await request(server).post('/set').send({ key: 'cart', value: 1 })) as string;
  let laptop = '';
  await step(async () => {
    laptop = await login(anonymous);
  });
  await step(() => request(server).post('/set').set('Cookie', withId(laptop)).send({ key: 'k', value: 1 }));
  await login();
  let sessions: UserSessionInfo[] = [];
  await step(async () => {
    sessions = (await request(server).get('/user/sessions').set('Cookie', withId(laptop))).body as UserSessionInfo[];
  });
  expect(sessions).toHaveLength(2);
  const handle = sessions.find((each) => !each.current)?.handle;
  await step(async () => {
    expect((await request(server).post('/user/revoke').set('Cookie', withId(laptop)).send({ handle })).body).toEqual({ revoked: true });
  });
  await login();
  await login();
  await step(async () => {
    expect((await request(server).post('/user/revoke-others').set('Cookie', withId(laptop))).body).toEqual({ revoked: 2 });
  });
  return counts;
}

async function run(store: SessionStore, counter: Counter, name: string, expected: number[]): Promise<void> {
  const app = await startApp('express', appModule(store, {}));
  try {
    // Warm-up: table creation, script loading and connection set-up are not per request.
    await measure(app, counter);
    const counts = await measure(app, counter);
    console.log(`${name} round trips, a user's sessions:\n${STEPS.map((label, i) => `  ${label}: ${counts[i]}`).join('\n')}`);
    expect(counts).toEqual(expected);
  } finally {
    await app.close();
  }
}

describe("round trips of a user's sessions", () => {
  it('RedisStore: +1 at login (the index), none on an ordinary write; the list reads each session', async () => {
    const url = serviceUrl('redis');
    const prefix = `rtu:${randomBytes(6).toString('hex')}:`;
    const client = new Redis(url);
    const monitorClient = new Redis(url);
    const monitor = await monitorClient.monitor();
    let seen = 0;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === 'lua') return;
      if (args.some((arg) => typeof arg === 'string' && arg.startsWith(prefix))) seen++;
    });
    const counter: Counter = {
      async take() {
        await client.ping();
        await sleep(20);
        const value = seen;
        seen = 0;
        return value;
      },
    };
    try {
      // login: load + destroy + index + commit; list: load + index + 2 sessions; revoke one:
      // load + (index + 2) + destroy; revoke others: load + (index + 4) + 1 + 2 destroys, the 4
      // including the session revoked a step before, whose destroy mark the list finds: its
      // entry is removed (the 1), so the lists after it no longer read it.
      await run(new RedisStore({ client, prefix }), counter, 'RedisStore', [4, 2, 4, 5, 9]);
    } finally {
      monitor.disconnect();
      monitorClient.disconnect();
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      client.disconnect();
    }
  });

  it('PostgresStore: no extra statement at login or on a write; one statement per list', async () => {
    const pool = new pg.Pool({ connectionString: serviceUrl('postgres') });
    const table = `rtu_${randomBytes(6).toString('hex')}`;
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
      await run(new PostgresStore({ pool, table, createTable: true }), counter, 'PostgresStore', [3, 2, 2, 3, 4]);
    } finally {
      await query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    }
  });
});
