/**
 * Start-up checks: a store that cannot serve is reported once, at boot, in one sentence that
 * names the store, its address (never credentials) and the fix; the app serves anyway (503s
 * until the store is there, then recovers by itself) unless it asked to fail fast.
 */
import { randomBytes } from 'node:crypto';
import type { LoggerService, Type } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { CookieStore, MemoryStore, type SessionModuleOptions, SessionStoreCheckError, type SessionStore } from '@novanest/session';
import { PostgresStore } from '@novanest/session/postgres';
import { RedisStore } from '@novanest/session/redis';
import { CapturedLogger, startAppWithLogger } from './support/captured-logger.js';
import { PLATFORMS, type Platform } from './support/platforms.js';
import { sessionTestModule } from './support/session-test.controller.js';
import { serviceUrl, sleep } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

const UNTIL_THEN = ' (until then, requests that use the session answer 503)';
const SECRET = 'a-cookie-secret-of-at-least-32-bytes!!';

/** Only boots: `app.init()`'s outcome, the app closed either way. */
async function initOutcome(platform: Platform, module: Type<unknown>, logger: LoggerService): Promise<unknown> {
  const testing = await Test.createTestingModule({ imports: [module] }).compile();
  const app =
    platform === 'fastify'
      ? testing.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger })
      : testing.createNestApplication({ logger });
  try {
    await app.init();
    return undefined;
  } catch (error) {
    return error;
  } finally {
    await app.close().catch(() => undefined);
  }
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`${what} did not happen within 5 s`);
}

/** A Redis client pointed at a proxy port where nothing listens yet, with a password to keep out of logs. */
async function unreachableRedis(extra: RedisOptions = {}): Promise<{ client: Redis; proxy: TcpProxy; address: string }> {
  const redisUrl = new URL(serviceUrl('redis'));
  const proxy = await TcpProxy.start({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
  await proxy.down();
  const client = new Redis({
    host: '127.0.0.1',
    port: proxy.port,
    username: 'default',
    password: 'not-a-real-secret',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 100,
    ...extra,
  });
  client.on('error', () => undefined);
  return { client, proxy, address: `127.0.0.1:${proxy.port}` };
}

/** The start-up sentence for a Redis that refuses the connection at `address`. */
function redisRefused(address: string): string {
  return (
    `RedisStore: Redis at ${address} did not answer PING (connect ECONNREFUSED ${address}): ` +
    'start Redis there or point the ioredis client at the right host and port'
  );
}

function module(store: SessionStore | undefined, options: SessionModuleOptions = {}): Type<unknown> {
  return sessionTestModule(store, { storeTimeout: 1000, ...options });
}

describe.each(PLATFORMS)('store start-up checks on %s', (platform) => {
  let logger: CapturedLogger;
  const cleanup: (() => Promise<unknown> | unknown)[] = [];

  beforeEach(() => {
    logger = new CapturedLogger();
  });

  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('Redis unreachable: one error line naming the store, the address and the fix; 503s, then recovery with no restart', async () => {
    const { client, proxy, address } = await unreachableRedis();
    cleanup.push(
      () => proxy.down(),
      () => client.disconnect(),
    );
    const app = await startAppWithLogger(
      platform,
      module(new RedisStore({ client, prefix: `startup:${randomBytes(4).toString('hex')}:` })),
      logger,
    );
    cleanup.push(() => app.close());

    expect(logger.sessionLines()).toEqual([{ level: 'error', message: redisRefused(address) + UNTIL_THEN, context: 'SessionModule' }]);
    expect(JSON.stringify(logger.lines)).not.toContain('not-a-real-secret');

    const server = app.getHttpServer();
    expect((await request(server).get('/untouched')).status).toBe(200);
    expect((await request(server).post('/set').send({ key: 'a', value: 1 })).status).toBe(503);

    await proxy.up();
    await eventually(
      async () => (await request(server).post('/set').send({ key: 'a', value: 1 })).status === 200,
      'a write after Redis came up',
    );
    // Reported at boot only: the 503s above were logged per request, not as a second start-up line.
    expect(logger.sessionLines().filter((line) => line.message.startsWith('RedisStore:'))).toHaveLength(1);
  });

  it('Redis unreachable with failFast: app.init() rejects with that sentence', async () => {
    const { client, proxy, address } = await unreachableRedis();
    cleanup.push(
      () => proxy.down(),
      () => client.disconnect(),
    );
    const error = await initOutcome(platform, module(new RedisStore({ client }), { failFast: true }), logger);
    expect(error).toBeInstanceOf(SessionStoreCheckError);
    expect((error as Error).message).toBe(redisRefused(address));
  });

  it('Redis that accepts the connection but never answers: the check gives up at storeTimeout', async () => {
    const { client, proxy, address } = await unreachableRedis();
    cleanup.push(
      () => proxy.down(),
      () => client.disconnect(),
    );
    await proxy.up();
    proxy.pause();
    const started = performance.now();
    const error = await initOutcome(platform, module(new RedisStore({ client }), { failFast: true, storeTimeout: 500 }), logger);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(480);
    expect(elapsed).toBeLessThan(2500);
    expect((error as Error).message).toBe(
      `RedisStore: Redis at ${address} did not answer PING within 500 ms: ` +
        'start Redis there or point the ioredis client at the right host and port',
    );
  });

  it('Redis reachable: nothing logged', async () => {
    const client = new Redis(serviceUrl('redis'), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    cleanup.push(() => client.disconnect());
    // Booted while the client is still connecting: the check waits for it rather than failing.
    const app = await startAppWithLogger(platform, module(new RedisStore({ client })), logger);
    cleanup.push(() => app.close());
    expect(logger.sessionLines()).toEqual([]);
  });

  it('Postgres table missing: one error line naming the table, the address and the fix; 503s, then recovery once it exists', async () => {
    const url = new URL(serviceUrl('postgres'));
    const table = `startup_${randomBytes(6).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: url.href, max: 4 });
    cleanup.push(() => pool.end());
    const store = new PostgresStore({ pool, table });
    const app = await startAppWithLogger(platform, module(store), logger);
    cleanup.push(() => app.close());
    cleanup.push(() => pool.query(`DROP TABLE IF EXISTS "${table}"`));

    const address = `${url.hostname}:${url.port || 5432}/${url.pathname.slice(1)}`;
    expect(logger.sessionLines()).toEqual([
      {
        level: 'error',
        message:
          `PostgresStore: table "${table}" does not exist in PostgreSQL at ${address}: ` +
          'run @novanest/session/postgres.schema.sql with your migrations, or pass createTable: true' +
          UNTIL_THEN,
        context: 'SessionModule',
      },
    ]);

    const server = app.getHttpServer();
    expect((await request(server).post('/set').send({ key: 'a', value: 1 })).status).toBe(503);
    for (const statement of store.schemaSql.split(';\n')) await pool.query(statement);
    expect((await request(server).post('/set').send({ key: 'a', value: 1 })).status).toBe(200);
  });

  it('Postgres table missing with failFast: app.init() rejects with that sentence', async () => {
    const url = new URL(serviceUrl('postgres'));
    const pool = new pg.Pool({ connectionString: url.href, max: 2 });
    cleanup.push(() => pool.end());
    const error = await initOutcome(platform, module(new PostgresStore({ pool, table: 'no_such_sessions' }), { failFast: true }), logger);
    expect(error).toBeInstanceOf(SessionStoreCheckError);
    expect((error as Error).message).toMatch(/^PostgresStore: table "no_such_sessions" does not exist in PostgreSQL at [^ ]+: run /);
  });

  it('Postgres unreachable: the address without credentials', async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: 5432 });
    await proxy.down();
    const pool = new pg.Pool({ connectionString: `postgres://someone:not-a-real-secret@127.0.0.1:${proxy.port}/appdb`, max: 2 });
    pool.on('error', () => undefined);
    cleanup.push(() => pool.end());
    await startAppWithLogger(platform, module(new PostgresStore({ pool })), logger).then((app) => cleanup.push(() => app.close()));
    expect(logger.sessionLines()).toEqual([
      {
        level: 'error',
        message:
          `PostgresStore: PostgreSQL at 127.0.0.1:${proxy.port}/appdb did not answer (connect ECONNREFUSED 127.0.0.1:${proxy.port}): ` +
          'start it there or point the pg Pool at the right host, port and database' +
          UNTIL_THEN,
        context: 'SessionModule',
      },
    ]);
    expect(JSON.stringify(logger.lines)).not.toContain('not-a-real-secret');
  });

  it('Postgres with its table: nothing logged', async () => {
    const pool = new pg.Pool({ connectionString: serviceUrl('postgres'), max: 2 });
    const table = `startup_${randomBytes(6).toString('hex')}`;
    cleanup.push(() => pool.end());
    const app = await startAppWithLogger(platform, module(new PostgresStore({ pool, table, createTable: true })), logger);
    cleanup.push(() => app.close());
    cleanup.push(() => pool.query(`DROP TABLE IF EXISTS "${table}"`));
    expect(logger.sessionLines()).toEqual([]);
  });

  it('MemoryStore under NODE_ENV=production: one warning; none otherwise', async () => {
    const previous = process.env.NODE_ENV;
    cleanup.push(() => {
      if (previous === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = previous;
    });
    process.env.NODE_ENV = 'production';
    const app = await startAppWithLogger(platform, module(undefined), logger);
    cleanup.push(() => app.close());
    expect(logger.sessionLines()).toEqual([
      {
        level: 'warn',
        message:
          'SessionModule uses a MemoryStore under NODE_ENV=production: sessions live in this one process, ' +
          'are lost on restart and are not shared with other instances; pass a RedisStore or PostgresStore to SessionModule.forRoot()',
        context: 'SessionModule',
      },
    ]);

    process.env.NODE_ENV = 'development';
    const quiet = new CapturedLogger();
    const other = await startAppWithLogger(platform, module(new MemoryStore()), quiet);
    cleanup.push(() => other.close());
    expect(quiet.sessionLines()).toEqual([]);
  });

  it("CookieStore's revocation store is checked too: Redis unreachable is the same one line", async () => {
    const { client, proxy, address } = await unreachableRedis();
    cleanup.push(
      () => proxy.down(),
      () => client.disconnect(),
    );
    const revocation = new RedisStore({ client, prefix: `startup-rev:${randomBytes(4).toString('hex')}:` });
    const app = await startAppWithLogger(platform, module(new CookieStore({ secret: SECRET, revocation })), logger);
    cleanup.push(() => app.close());
    expect(logger.sessionLines()).toEqual([{ level: 'error', message: redisRefused(address) + UNTIL_THEN, context: 'SessionModule' }]);
  });

  it('CookieStore with a MemoryStore as revocation under NODE_ENV=production: one warning', async () => {
    const previous = process.env.NODE_ENV;
    cleanup.push(() => {
      if (previous === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = previous;
    });
    process.env.NODE_ENV = 'production';
    const app = await startAppWithLogger(platform, module(new CookieStore({ secret: SECRET, revocation: new MemoryStore() })), logger);
    cleanup.push(() => app.close());
    expect(logger.sessionLines()).toEqual([
      {
        level: 'warn',
        message:
          "CookieStore's revocation store is a MemoryStore under NODE_ENV=production: a restart forgets every " +
          '"log out everywhere" (the revoked cookies count again) and other instances never see one; pass a RedisStore or PostgresStore as revocation',
        context: 'SessionModule',
      },
    ]);
  });
});
