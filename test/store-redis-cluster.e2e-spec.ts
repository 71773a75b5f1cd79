import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Cluster, type ClusterOptions } from 'ioredis';
import { RedisStore } from '@novanest/session/redis';
import { runStoreContract, serviceUrl } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { userIndexKey } from './support/user-index-contract.js';

/** Fail fast while the cluster is away (the 503 path), reconnect quickly when it is back. */
const FAIL_FAST: ClusterOptions = {
  enableOfflineQueue: false,
  clusterRetryStrategy: () => 100,
  redisOptions: { maxRetriesPerRequest: 0 },
};

function seedNodes(): { host: string; port: number }[] {
  return serviceUrl('redisCluster')
    .split(',')
    .map((node) => {
      const [host, port] = node.trim().split(':');
      return { host, port: Number(port) };
    });
}

async function connected(cluster: Cluster): Promise<Cluster> {
  cluster.on('error', () => undefined);
  if (cluster.status !== 'ready') await once(cluster, 'ready');
  return cluster;
}

runStoreContract({
  name: 'redis cluster',
  perKeyAcrossNodes: true,
  userIndex: true,
  async create() {
    const nodes = seedNodes();
    // Every node behind its own proxy; natMap sends the client through the proxies.
    const proxies = await Promise.all(nodes.map((node) => TcpProxy.start(node)));
    const natMap = Object.fromEntries(nodes.map((node, i) => [`${node.host}:${node.port}`, { host: '127.0.0.1', port: proxies[i].port }]));
    const prefix = `contract:${randomBytes(6).toString('hex')}:`;
    const client = await connected(
      new Cluster(
        proxies.map((proxy) => ({ host: '127.0.0.1', port: proxy.port })),
        { ...FAIL_FAST, natMap },
      ),
    );
    const clients = [client];
    return {
      store: new RedisStore({ client, prefix }),
      userIndexSize: (userId) => client.zcard(userIndexKey(prefix, userId)),
      outage: {
        down: async () => {
          await Promise.all(proxies.map((proxy) => proxy.down()));
        },
        up: async () => {
          await Promise.all(proxies.map((proxy) => proxy.up()));
        },
      },
      async sibling() {
        const other = await connected(new Cluster(nodes, FAIL_FAST));
        clients.push(other);
        return new RedisStore({ client: other, prefix });
      },
      async close() {
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
