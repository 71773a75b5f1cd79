import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type NovaStoreBackend, fromNovaStore } from '@novanest/session';
import { runStoreContract, serviceUrl } from './support/store-contract.js';
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
