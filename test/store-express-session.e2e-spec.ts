import { randomBytes } from 'node:crypto';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import pg from 'pg';
import { createClient } from 'redis';
import { type ExpressSessionStoreLike, fromExpressSessionStore } from '@novanest/session';
import { runStoreContract, serviceUrl } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

const PgSession = connectPgSimple(session);

/** express-session's own MemoryStore, behind a switch that makes every call fail like a lost connection. */
function switchable(inner: session.MemoryStore): ExpressSessionStoreLike & { down: boolean } {
  const failing = (callback?: (error?: unknown) => void): boolean => {
    if (!wrapper.down) return false;
    setImmediate(() => callback?.(new Error('connection lost')));
    return true;
  };
  const wrapper = {
    down: false,
    get: (sid: string, callback: (error: unknown, value?: object | null) => void) => {
      if (!failing(callback)) inner.get(sid, callback);
    },
    set: (sid: string, value: object, callback?: (error?: unknown) => void) => {
      if (!failing(callback)) inner.set(sid, value as session.SessionData, callback);
    },
    destroy: (sid: string, callback?: (error?: unknown) => void) => {
      if (!failing(callback)) inner.destroy(sid, callback);
    },
    touch: (sid: string, value: object, callback?: (error?: unknown) => void) => {
      if (!failing(callback)) inner.touch(sid, value as session.SessionData, () => callback?.());
    },
  };
  return wrapper;
}

runStoreContract({
  name: 'express-session (wrapped MemoryStore)',
  perKeyAcrossNodes: false,
  async create() {
    const shared = new session.MemoryStore();
    const store = switchable(shared);
    return {
      store: fromExpressSessionStore(store),
      outage: {
        down: async () => {
          store.down = true;
        },
        up: async () => {
          store.down = false;
        },
      },
      sibling: async () => fromExpressSessionStore(switchable(shared)),
      close: async () => shared.clear?.(),
    };
  },
});

/*
 * Real connect-* stores whose touch() only extends their own expiry (connect-redis: EXPIRE;
 * connect-pg-simple: the `expire` column) and leaves the stored JSON, and so its
 * cookie.expires, as it was. The contract's sliding-idle case reads a session past its first
 * expiry: it stays alive only if the adapter's touch rewrites the record.
 */

runStoreContract({
  name: 'express-session (connect-redis on Redis)',
  perKeyAcrossNodes: false,
  async create() {
    const target = new URL(serviceUrl('redis'));
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 6379) });
    const prefix = `connect-redis:${randomBytes(6).toString('hex')}:`;
    const connect = async (port: number, host = '127.0.0.1') => {
      const url = new URL(target.href);
      url.hostname = host;
      url.port = String(port);
      const client = createClient({
        url: url.href,
        // Fail at once while the server is away (a 503), rather than queueing the commands.
        disableOfflineQueue: true,
        socket: { reconnectStrategy: () => 100, connectTimeout: 1000 },
      });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    };
    const client = await connect(proxy.port);
    const clients = [client];
    return {
      store: fromExpressSessionStore(new RedisStore({ client, prefix })),
      outage: { down: () => proxy.down(), up: () => proxy.up() },
      async sibling() {
        const other = await connect(Number(target.port || 6379), target.hostname);
        clients.push(other);
        return fromExpressSessionStore(new RedisStore({ client: other, prefix }));
      },
      async close() {
        const cleaner = await connect(Number(target.port || 6379), target.hostname);
        const keys = await cleaner.keys(`${prefix}*`);
        if (keys.length > 0) await cleaner.del(keys);
        for (const each of [...clients, cleaner]) each.destroy();
        await proxy.down();
      },
    };
  },
});

runStoreContract({
  name: 'express-session (connect-pg-simple on PostgreSQL)',
  perKeyAcrossNodes: false,
  async create() {
    const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('postgres'), 5432);
    const tableName = `connect_pg_${randomBytes(6).toString('hex')}`;
    const open = (connectionString: string): pg.Pool => {
      const pool = new pg.Pool({ connectionString, connectionTimeoutMillis: 2000, max: 10 });
      pool.on('error', () => undefined);
      return pool;
    };
    const storeOver = (pool: pg.Pool) =>
      fromExpressSessionStore(new PgSession({ pool, tableName, pruneSessionInterval: false }) as ExpressSessionStoreLike);
    // The table of connect-pg-simple's table.sql, made here rather than by its lazy
    // createTableIfMissing: that one names the primary key "session_pkey" whatever the table,
    // so a second table in one database fails, and it would slow the first session write.
    const admin = new pg.Client({ connectionString: target.href });
    await admin.connect();
    await admin.query(`CREATE TABLE "${tableName}" (sid varchar PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`);
    await admin.end();
    const pool = open(viaProxy.href);
    const pools = [pool];
    return {
      store: storeOver(pool),
      outage: { down: () => proxy.down(), up: () => proxy.up() },
      async sibling() {
        const other = open(target.href);
        pools.push(other);
        return storeOver(other);
      },
      async close() {
        const admin = new pg.Client({ connectionString: target.href });
        await admin.connect();
        await admin.query(`DROP TABLE IF EXISTS "${tableName}"`);
        await admin.end();
        await Promise.all(pools.map((each) => each.end()));
        await proxy.down();
      },
    };
  },
});
