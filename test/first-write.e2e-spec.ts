/**
 * One session from the first write (issue 15): the id a new visitor is issued on its first
 * response stays its id when its first writes arrive in parallel, and what must not come back
 * does not: an id past its absolute timeout, a destroyed, regenerated or revoked one, a
 * planted one. The per-store cases (20 parallel first writes on every store, destroy marks at
 * store level) are in the store contract; these are the handle's side, on MemoryStore and, for
 * two nodes, on Redis.
 */
import { randomBytes } from 'node:crypto';
import { Controller, Get, HttpCode, type INestApplication, Post, Req, UseGuards } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';
import {
  MemoryStore,
  Session,
  type Session as SessionHandle,
  SessionCsrfGuard,
  type SessionModuleOptions,
  SessionService,
  type SessionStore,
} from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { PostgresStore } from '@novanest/session/postgres';
import pg from 'pg';
import { cookieValue } from './support/cookies.js';
import { startApp } from './support/platforms.js';
import { sessionTestModule } from './support/session-test.controller.js';
import { serviceUrl, sleep, storeKeyOf } from './support/store-contract.js';
import { UserIndexController } from './support/user-index-contract.js';

const withId = (id: string): string => `session_id=${id}`;
const SECRET = 'first-write-e2e-secret-0123456789abcdef';

/** A form's token and a guarded write, and a first write that binds a user without a login. */
@Controller('fw')
class FirstWriteController {
  constructor(private readonly sessions: SessionService) {}

  @Get('form')
  async form(@Req() req: object) {
    return { token: await this.sessions.csrfToken(req) };
  }

  @Post('guarded')
  @HttpCode(200)
  @UseGuards(SessionCsrfGuard)
  async guarded(@Session() session: SessionHandle) {
    await session.set('guarded', true);
    return { ok: true };
  }

  @Post('bind')
  @HttpCode(200)
  async bind(@Session() session: SessionHandle) {
    await session.bindUser('grace');
    return { ok: true };
  }

  @Post('regenerate-keep')
  @HttpCode(200)
  async regenerateKeep(@Session() session: SessionHandle) {
    await session.regenerate({ keep: ['cart'] });
    return { id: session.id };
  }
}

function moduleOf(store: SessionStore, options: SessionModuleOptions = {}) {
  return sessionTestModule(store, options, FirstWriteController, UserIndexController);
}

async function issuedId(server: ReturnType<INestApplication['getHttpServer']>): Promise<string> {
  const first = await request(server).get('/read');
  expect(first.status).toBe(200);
  return cookieValue(first) as string;
}

async function set(server: ReturnType<INestApplication['getHttpServer']>, id: string, key: string, value: unknown) {
  const response = await request(server).post('/set').send({ key, value }).set('Cookie', withId(id));
  expect(response.status).toBe(200);
  return response;
}

/** The stores that adopt, each fresh and isolated, with what closes it. */
const STORES: Array<{ name: string; create(): Promise<{ store: SessionStore; close(): Promise<void> }> }> = [
  { name: 'MemoryStore', create: async () => ({ store: new MemoryStore(), close: async () => undefined }) },
  {
    name: 'RedisStore',
    async create() {
      const client = new Redis(serviceUrl('redis'));
      const prefix = `fw:${randomBytes(6).toString('hex')}:`;
      return {
        store: new RedisStore({ client, prefix }),
        async close() {
          const keys = await client.keys(`${prefix}*`);
          if (keys.length > 0) await client.del(...keys);
          client.disconnect();
        },
      };
    },
  },
  {
    name: 'PostgresStore',
    async create() {
      const pool = new pg.Pool({ connectionString: serviceUrl('postgres'), max: 10 });
      const table = `fw_${randomBytes(6).toString('hex')}`;
      return {
        store: new PostgresStore({ pool, table, createTable: true, pruneInterval: false }),
        async close() {
          await pool.query(`DROP TABLE IF EXISTS "${table}"`);
          await pool.end();
        },
      };
    },
  },
];

describe.each(STORES)('one session from the first write ($name)', ({ create }) => {
  let store: SessionStore;
  let close: () => Promise<void>;
  let app: INestApplication;
  let server: ReturnType<INestApplication['getHttpServer']>;

  beforeAll(async () => {
    ({ store, close } = await create());
    app = await startApp('express', moduleOf(store));
    server = app.getHttpServer();
  });
  afterAll(async () => {
    await app?.close();
    await close?.();
  });

  it('the adopted session counts its absolute timeout from the issue time, which every first write agrees on', async () => {
    const before = Date.now();
    const id = await issuedId(server);
    await sleep(50);
    const responses = await Promise.all([set(server, id, 'a', 1), set(server, id, 'b', 2)]);
    for (const response of responses) expect(cookieValue(response) ?? id).toBe(id);
    const stored = await store.get(storeKeyOf(id));
    expect(stored && Object.fromEntries(stored.data)).toEqual({ a: 1, b: 2 });
    // The issue time in whole seconds: never after the first response, never in the future.
    expect(stored?.createdAt).toBeLessThanOrEqual(before + 1000);
    expect(stored?.createdAt).toBeGreaterThan(before - 1000);
    // Whole seconds (PostgreSQL's timestamptz keeps them exactly; allow its float rounding).
    expect(Math.abs(Math.round((stored?.createdAt as number) / 1000) * 1000 - (stored?.createdAt as number))).toBeLessThanOrEqual(1);
  });

  it('CSRF: a new visitor takes a form token (its first write), then posts it: one session, the token holds', async () => {
    const id = await issuedId(server);
    const form = await request(server).get('/fw/form').set('Cookie', withId(id));
    expect(form.status).toBe(200);
    expect(cookieValue(form) ?? id).toBe(id);
    const posted = await request(server)
      .post('/fw/guarded')
      .set('Cookie', withId(id))
      .set('x-csrf-token', form.body.token as string);
    expect(posted.status).toBe(200);
    expect(cookieValue(posted) ?? id).toBe(id);
    const read = await request(server).get('/read').set('Cookie', withId(id));
    expect(read.body).toEqual({ id, isNew: false, data: { guarded: true } });
  });

  it('regenerate({ keep }) from an adopted session moves the kept keys and the old id never comes back', async () => {
    const id = await issuedId(server);
    await Promise.all([set(server, id, 'cart', ['book']), set(server, id, 'theme', 'dark')]);
    const renewed = await request(server).post('/fw/regenerate-keep').set('Cookie', withId(id));
    expect(renewed.status).toBe(200);
    const next = cookieValue(renewed) as string;
    expect(next).not.toBe(id);
    expect((await request(server).get('/read').set('Cookie', withId(next))).body.data).toEqual({ cart: ['book'] });
    // A late write with the old id: a fresh session, nothing under the old id.
    const late = await set(server, id, 'late', 1);
    expect(cookieValue(late)).not.toBe(id);
    expect(await store.get(storeKeyOf(id))).toBeUndefined();
  });

  it('bindUser at the first write indexes the adopted session; revoking it keeps its id from coming back', async () => {
    const id = await issuedId(server);
    const responses = await Promise.all([request(server).post('/fw/bind').set('Cookie', withId(id)), set(server, id, 'cart', ['pen'])]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    const listed = await request(server).get('/user/sessions').set('Cookie', withId(id));
    expect(listed.status).toBe(200);
    expect(listed.body).toHaveLength(1);
    expect(listed.body[0].current).toBe(true);
    const revoked = await request(server).post('/user/revoke-all').set('Cookie', withId(id));
    expect(revoked.body).toEqual({ revoked: 1 });
    const late = await set(server, id, 'late', 1);
    expect(cookieValue(late)).not.toBe(id);
    expect(await store.get(storeKeyOf(id))).toBeUndefined();
  });

  it('regenerate() of an issued id the store does not hold yet marks it: a late write with it gets a fresh id', async () => {
    const id = await issuedId(server);
    const renewed = await request(server).post('/regenerate').set('Cookie', withId(id));
    expect(renewed.status).toBe(200);
    expect(cookieValue(renewed)).not.toBe(id);
    const late = await set(server, id, 'late', 1);
    expect(cookieValue(late)).not.toBe(id);
    expect(await store.get(storeKeyOf(id))).toBeUndefined();
  });

  it('SessionService.generateSessionId issues ids this application adopts; revoke(id) keeps one from being adopted', async () => {
    const service = app.get(SessionService);
    const minted = service.generateSessionId();
    expect(minted).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const adopted = await set(server, minted, 'k', 1);
    expect(cookieValue(adopted) ?? minted).toBe(minted);
    const other = service.generateSessionId();
    await service.revoke(other);
    const refused = await set(server, other, 'k', 1);
    expect(cookieValue(refused)).not.toBe(other);
  });
});

describe('one session from the first write: an id past its absolute timeout is not revived', () => {
  const store = new MemoryStore();
  let app: INestApplication;

  beforeAll(async () => {
    app = await startApp('express', moduleOf(store, { idleTimeout: 1, absoluteTimeout: 2 }));
  });
  afterAll(async () => {
    await app.close();
  });

  it('a first write after the issued id`s absolute timeout gets a fresh id; before it, the session ends with it', async () => {
    const server = app.getHttpServer();
    const id = await issuedId(server);
    const early = await set(server, id, 'a', 1);
    expect(cookieValue(early) ?? id).toBe(id);
    const stored = await store.get(storeKeyOf(id));
    // The issue time is in whole seconds, so the deadline is at most 2 s after the first response.
    expect(stored?.expiresAt).toBeLessThanOrEqual((stored?.createdAt as number) + 2000 + 50);
    await sleep(2100);
    const late = await set(server, id, 'b', 2);
    const fresh = cookieValue(late);
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(id);
    expect(await store.get(storeKeyOf(id))).toBeUndefined();
  });
});

describe('one session from the first write: an id whose session idled out is not revived', () => {
  const store = new MemoryStore();
  let app: INestApplication;

  beforeAll(async () => {
    app = await startApp('express', moduleOf(store, { idleTimeout: 1, absoluteTimeout: 60 }));
  });
  afterAll(async () => {
    await app.close();
  });

  it('a write after the session idled out gets a fresh id, long before the absolute timeout', async () => {
    const server = app.getHttpServer();
    const id = await issuedId(server);
    expect(cookieValue(await set(server, id, 'a', 1)) ?? id).toBe(id);
    // Adoption ends one idle timeout after the issue time (whole seconds): by now the session
    // idled out, and its id can start nothing again.
    await sleep(1300);
    expect(await store.get(storeKeyOf(id))).toBeUndefined();
    const late = await set(server, id, 'b', 2);
    expect(cookieValue(late)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookieValue(late)).not.toBe(id);
    expect(await store.get(storeKeyOf(id))).toBeUndefined();
  });
});

describe('one session from the first write across two nodes (RedisStore)', () => {
  const prefix = `fw:${randomBytes(6).toString('hex')}:`;
  let client: Redis;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    client = new Redis(serviceUrl('redis'));
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });

  async function node(secret: string): Promise<ReturnType<INestApplication['getHttpServer']>> {
    const app = await startApp('express', moduleOf(new RedisStore({ client, prefix }), { secret }));
    apps.push(app);
    return app.getHttpServer();
  }

  it('nodes sharing a secret: 20 parallel first writes split over both make one session with 20 keys', async () => {
    const [a, b] = [await node(SECRET), await node(SECRET)];
    const signed = cookieValue(await request(a).get('/read')) as string;
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(i % 2 === 0 ? a : b)
          .post('/set')
          .send({ key: `k${i}`, value: i })
          .set('Cookie', withId(signed)),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
    expect(responses.map((response) => cookieValue(response) ?? signed)).toEqual(responses.map(() => signed));
    const read = await request(b).get('/read').set('Cookie', withId(signed));
    expect(read.body.data).toEqual(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])));
  });

  it('a node with another secret does not adopt the id (nor accept its signature): its first write gets a fresh id', async () => {
    const a = await node(SECRET);
    const stranger = await node('another-secret-for-another-app-0123456789');
    const signed = cookieValue(await request(a).get('/read')) as string;
    const response = await request(stranger).post('/set').send({ key: 'k', value: 1 }).set('Cookie', withId(signed));
    expect(response.status).toBe(200);
    expect(cookieValue(response)).not.toBe(signed);
    expect(await client.exists(`${prefix}${storeKeyOf(signed.split('.')[0])}`)).toBe(0);
  });
});
