import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';
import { type NovaStoreBackend, fromNovaStore } from '@novanest/session';
import { cookieValue } from './support/cookies.js';
import { PLATFORMS, startApp } from './support/platforms.js';
import { appModule, runStoreContract, serviceUrl, sleep, storeKeyOf } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

/**
 * A custom store written to Nova's four functions only: a Map of sessions, each a Map of JSON
 * text, answering asynchronously like a networked backend would, and able to go "down".
 */
class MapBackend implements NovaStoreBackend {
  readonly sessions = new Map<string, Map<string, string>>();
  down = false;

  async getValue(id: string, key: string): Promise<unknown> {
    await this.roundTrip();
    const json = this.sessions.get(id)?.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  async setValue(id: string, key: string, value: unknown): Promise<void> {
    await this.roundTrip();
    let session = this.sessions.get(id);
    if (session === undefined) {
      session = new Map();
      this.sessions.set(id, session);
    }
    session.set(key, JSON.stringify(value));
  }

  async deleteValue(id: string, key?: string): Promise<void> {
    await this.roundTrip();
    if (key === undefined) this.sessions.delete(id);
    else this.sessions.get(id)?.delete(key);
  }

  private async roundTrip(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.down) throw new Error('backend unreachable');
  }
}

runStoreContract({
  name: 'nova-style custom',
  perKeyAcrossNodes: false,
  async create() {
    const backend = new MapBackend();
    return {
      store: fromNovaStore(backend),
      outage: {
        down: async () => {
          backend.down = true;
        },
        up: async () => {
          backend.down = false;
        },
      },
      sibling: async () => fromNovaStore(backend),
      close: async () => backend.sessions.clear(),
    };
  },
});

/** The Redis example from the `NovaStoreBackend` documentation, as a user would write it. */
const redisBackend = (redis: Redis, prefix: string): NovaStoreBackend => ({
  async getValue(id, key) {
    const json = await redis.hget(`${prefix}${id}`, key);
    return json === null ? undefined : JSON.parse(json);
  },
  async setValue(id, key, value) {
    await redis.hset(`${prefix}${id}`, key, JSON.stringify(value));
  },
  async deleteValue(id, key) {
    if (key === undefined) await redis.del(`${prefix}${id}`);
    else await redis.hdel(`${prefix}${id}`, key);
  },
  async expire(id, ttlMs) {
    await redis.pexpire(`${prefix}${id}`, ttlMs);
  },
});

runStoreContract({
  name: 'nova-style custom (the documented Redis backend)',
  perKeyAcrossNodes: false,
  platforms: ['express'],
  async create() {
    const target = new URL(serviceUrl('redis'));
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 6379) });
    const prefix = `nova:${randomBytes(6).toString('hex')}:`;
    const connect = async (port: number, host = '127.0.0.1'): Promise<Redis> => {
      const client = new Redis({
        host,
        port,
        password: target.password || undefined,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => 100,
      });
      client.on('error', () => undefined);
      if (client.status !== 'ready') await once(client, 'ready');
      return client;
    };
    const client = await connect(proxy.port);
    const clients = [client];
    return {
      store: fromNovaStore(redisBackend(client, prefix)),
      outage: { down: () => proxy.down(), up: () => proxy.up() },
      async sibling() {
        const other = await connect(Number(target.port || 6379), target.hostname);
        clients.push(other);
        return fromNovaStore(redisBackend(other, prefix));
      },
      async close() {
        const cleaner = await connect(Number(target.port || 6379), target.hostname);
        const keys = await cleaner.keys(`${prefix}*`);
        if (keys.length > 0) await cleaner.del(...keys);
        for (const each of [...clients, cleaner]) each.disconnect();
        await proxy.down();
      },
    };
  },
});

/** A `MapBackend` that also implements the optional `expire`, and records its calls. */
class ExpiringMapBackend extends MapBackend {
  readonly expireCalls: { id: string; ttlMs: number }[] = [];

  async expire(id: string, ttlMs: number): Promise<void> {
    this.expireCalls.push({ id, ttlMs });
  }
}

describe.each(PLATFORMS)('nova-style backend expire() on %s', (platform) => {
  it('is called with the session ttl in milliseconds on create, update and touch', async () => {
    const backend = new ExpiringMapBackend();
    const app = await startApp(platform, appModule(fromNovaStore(backend), { idleTimeout: 60, absoluteTimeout: 3600, rolling: true }));
    try {
      const server = app.getHttpServer();
      const created = await request(server).post('/set').send({ key: 'a', value: 1 });
      expect(created.status).toBe(200);
      const id = cookieValue(created) as string;
      const key = storeKeyOf(id);
      expect(backend.expireCalls).toHaveLength(1);

      const updated = await request(server).post('/set').send({ key: 'b', value: 2 }).set('Cookie', `session_id=${id}`);
      expect(updated.status).toBe(200);
      expect(backend.expireCalls).toHaveLength(2);

      // A read that changes nothing slides the idle timeout (`rolling`: on every request): a touch,
      // whenever the expiry would move at all (not within the millisecond of the last write).
      await sleep(5);
      const read = await request(server).get('/read').set('Cookie', `session_id=${id}`);
      expect(read.status).toBe(200);
      expect(backend.expireCalls).toHaveLength(3);

      for (const call of backend.expireCalls) {
        expect(call.id).toBe(key);
        // The idle timeout (60 s) in ms, as computed a moment before the call.
        expect(call.ttlMs).toBeGreaterThan(59_000);
        expect(call.ttlMs).toBeLessThanOrEqual(60_000);
      }
    } finally {
      await app.close();
    }
  });
});

describe.each(PLATFORMS)('the documented Redis backend on %s', (platform) => {
  let redis: Redis;
  let app: INestApplication;
  const prefix = `nova-abandoned:${randomBytes(6).toString('hex')}:`;

  beforeAll(async () => {
    redis = new Redis(serviceUrl('redis'));
    app = await startApp(platform, appModule(fromNovaStore(redisBackend(redis, prefix)), { idleTimeout: 1 }));
  });
  afterAll(async () => {
    await app?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('lets Redis delete a session that is never visited again (PEXPIRE)', async () => {
    const created = await request(app.getHttpServer()).post('/set').send({ key: 'a', value: 'x' });
    expect(created.status).toBe(200);
    const key = `${prefix}${storeKeyOf(cookieValue(created) as string)}`;
    expect(await redis.exists(key)).toBe(1);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    // Nobody reads the session again: only the backend's own expiry can remove it.
    await sleep(1300);
    expect(await redis.exists(key)).toBe(0);
  });
});
