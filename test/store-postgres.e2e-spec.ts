import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '@novanest/session/postgres';
import { runStoreContract, serviceUrl } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

runStoreContract({
  name: 'postgres',
  perKeyAcrossNodes: true,
  async create() {
    const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('postgres'), 5432);
    const table = `contract_${randomBytes(6).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: viaProxy.href, connectionTimeoutMillis: 2000, max: 10 });
    const pools = [pool];
    return {
      store: new PostgresStore({ pool, table, createTable: true }),
      outage: { down: () => proxy.down(), up: () => proxy.up() },
      async sibling() {
        const other = new pg.Pool({ connectionString: target.href, max: 10 });
        pools.push(other);
        return new PostgresStore({ pool: other, table, createTable: true });
      },
      async close() {
        const admin = new pg.Client({ connectionString: target.href });
        await admin.connect();
        await admin.query(`DROP TABLE IF EXISTS "${table}"`);
        await admin.end();
        await Promise.all(pools.map((each) => each.end()));
        await proxy.down();
      },
    };
  },
});
