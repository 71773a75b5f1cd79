import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisStore } from '@novanest/session/redis';
import { runStoreContract, serviceUrl } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { userIndexKey } from './support/user-index-contract.js';

/** Fail fast while Redis is away (the 503 path), reconnect quickly when it is back. */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => 100,
};

async function connected(client: Redis): Promise<Redis> {
  client.on('error', () => undefined);
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

runStoreContract({
  name: 'redis',
  perKeyAcrossNodes: true,
  userIndex: true,
  async create() {
    const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('redis'), 6379);
    const prefix = `contract:${randomBytes(6).toString('hex')}:`;
    const client = await connected(new Redis(viaProxy.href, FAIL_FAST));
    const clients = [client];
    return {
      store: new RedisStore({ client, prefix }),
      outage: { down: () => proxy.down(), up: () => proxy.up() },
      userIndexSize: (userId) => client.zcard(userIndexKey(prefix, userId)),
      async sibling() {
        const other = await connected(new Redis(target.href, FAIL_FAST));
        clients.push(other);
        return new RedisStore({ client: other, prefix });
      },
      async close() {
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
