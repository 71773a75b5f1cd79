import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import request from 'supertest';
import type { SessionStore } from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { serviceUrl } from './store-contract.js';
import { TcpProxy } from './tcp-proxy.js';

/** Fail fast while Redis is away (the 503 path). */
const FAIL_FAST: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 };

async function connected(client: Redis): Promise<Redis> {
  client.on('error', () => undefined);
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

/** What each compatibility suite brings: its app, and a visit that gives a stored session. */
export interface CompatApp {
  boot(store: SessionStore): Promise<INestApplication>;
  /** Starts a stored session (`POST /visit`) and answers its id; `POST /mark/:n` sets `k<n>`. */
  visited(app: INestApplication): Promise<string>;
}

/**
 * The cases both compatibility layers (`expressSession`, `fastifySession`) must pass on a real
 * Redis behind a proxy that can be taken down: parallel writes of one session keep every key,
 * and a store outage is the library's 503, then recovery.
 */
export function describeCompatOnRedis(title: string, parallelCase: string, compat: CompatApp): void {
  describe(title, () => {
    let app: INestApplication;
    let client: Redis;
    let proxy: TcpProxy;
    const prefix = `compat:${randomBytes(6).toString('hex')}:`;
    const get = (path: string, cookie: string) => request(app.getHttpServer()).get(path).set('Cookie', `session_id=${cookie}`);

    beforeAll(async () => {
      const endpoints = await TcpProxy.inFrontOf(serviceUrl('redis'), 6379);
      proxy = endpoints.proxy;
      client = await connected(new Redis(endpoints.viaProxy.href, FAIL_FAST));
      app = await compat.boot(new RedisStore({ client, prefix }));
    });
    afterAll(async () => {
      await app.close();
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      client.disconnect();
      await proxy.down();
    });

    it(parallelCase, async () => {
      const cookie = await compat.visited(app);
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, n) => request(app.getHttpServer()).post(`/mark/${n}`).set('Cookie', `session_id=${cookie}`)),
      );
      expect(responses.map((response) => response.status)).toEqual(Array(50).fill(201));
      const data = await get('/data', cookie).expect(200);
      const expected = Object.fromEntries(Array.from({ length: 50 }, (_, n) => [`k${n}`, n]));
      expect(data.body).toEqual({ visited: true, ...expected });
    });

    it('answers 503 when the store cannot load the session, and recovers', async () => {
      const cookie = await compat.visited(app);
      await proxy.down();
      try {
        const response = await get('/data', cookie).timeout(5000);
        expect(response.status).toBe(503);
        expect(response.body).toEqual({
          statusCode: 503,
          message: 'Session store unavailable; please retry shortly.',
          error: 'Service Unavailable',
        });
        expect(response.headers['set-cookie']).toBeUndefined();
      } finally {
        await proxy.up();
      }
      await expect.poll(async () => (await get('/data', cookie)).status).toBe(200);
    });
  });
}
