import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { SessionWrite } from '@novanest/session';
import { PostgresStore } from '@novanest/session/postgres';
import { runStoreContract, serviceUrl } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

runStoreContract({
  name: 'postgres',
  perKeyAcrossNodes: true,
  userIndex: true,
  async create() {
    const { proxy, target, viaProxy } = await TcpProxy.inFrontOf(serviceUrl('postgres'), 5432);
    const table = `contract_${randomBytes(6).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: viaProxy.href, connectionTimeoutMillis: 2000, max: 10 });
    const pools = [pool];
    const store = new PostgresStore({ pool, table, createTable: true });
    return {
      store,
      async userIndexSize(userId) {
        // The index is the column: a user's entries are the rows that name them, pruned with their sessions.
        await store.prune();
        const result = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE user_id = $1`, [userId]);
        return result.rows[0].n;
      },
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

describe('postgres: the user_id column on a table created before it existed', () => {
  const oldSchema = (table: string): string =>
    `CREATE TABLE "${table}" (key text PRIMARY KEY, data jsonb NOT NULL DEFAULT '{}'::jsonb, ` +
    `created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)`;
  let pool: pg.Pool;
  const tables: string[] = [];

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: serviceUrl('postgres'), max: 4 });
  });
  afterAll(async () => {
    for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.end();
  });

  async function oldTable(): Promise<string> {
    const table = `old_${randomBytes(6).toString('hex')}`;
    tables.push(table);
    await pool.query(oldSchema(table));
    return table;
  }

  const bound = (userId: string): SessionWrite => {
    const now = Date.now();
    return {
      mode: 'create',
      set: new Map<string, unknown>([['$user', { id: userId, seenAt: now }]]),
      delete: [],
      clear: false,
      createdAt: now,
      ttl: 60_000,
      user: { userId, deadline: now + 60_000 },
    };
  };
  const plain = (): SessionWrite => ({
    mode: 'create',
    set: new Map([['a', 1]]),
    delete: [],
    clear: false,
    createdAt: Date.now(),
    ttl: 60_000,
  });
  const key = (): string => randomBytes(32).toString('base64url');

  it('serves unbound sessions unchanged, and refuses a binding with the sentence that says what to run', async () => {
    const table = await oldTable();
    const store = new PostgresStore({ pool, table, pruneInterval: false });
    const plainKey = key();
    expect(await store.write(plainKey, plain())).toBe(true);
    expect(Object.fromEntries((await store.get(plainKey))?.data ?? [])).toEqual({ a: 1 });
    const refused = store.write(key(), bound('ada'));
    await expect(refused).rejects.toThrow(
      `PostgresStore: table "${table}" has no user_id column, which bindUser and a user's sessions need: ` +
        'run the ALTER TABLE and CREATE INDEX of @novanest/session/postgres.schema.sql, or pass createTable: true',
    );
    await expect(store.listByUser('ada')).rejects.toThrow(/has no user_id column/);
  });

  it('without the gone_until column: adopts nothing (first writes get fresh ids, as before), destroys and prunes as before', async () => {
    const table = await oldTable();
    const store = new PostgresStore({ pool, table, pruneInterval: false });
    const adopted = key();
    // Refused, so the handle mints a fresh id; nothing is written under the issued one.
    expect(await store.adopt(adopted, plain())).toBe(false);
    expect(await store.get(adopted)).toBeUndefined();
    const live = key();
    expect(await store.write(live, plain())).toBe(true);
    // A destroy that asks for a mark still removes the session, and says it was live.
    expect(await store.destroy(live, 60_000)).toBe(true);
    expect(await store.get(live)).toBeUndefined();
    expect(await store.prune()).toBe(0);
  });

  it('the migration in the shipped postgres.schema.sql adds the columns and the index to an existing table, taken up by the next prune', async () => {
    const table = await oldTable();
    const store = new PostgresStore({ pool, table, pruneInterval: false });
    const kept = key();
    expect(await store.write(kept, plain())).toBe(true);
    // Before the migration the store finds gone_until missing and adopts nothing.
    expect(await store.adopt(key(), plain())).toBe(false);
    const shipped = readFileSync(new URL('../libs/session/dist/stores/postgres/postgres.schema.sql', import.meta.url), 'utf8');
    const migration = shipped
      .split('\n')
      .filter((line) => /^(ALTER TABLE|CREATE INDEX IF NOT EXISTS sessions_user_id_idx)/.test(line))
      .map((line) => line.replaceAll(' sessions ', ` "${table}" `).replace('sessions_user_id_idx', `${table}_user_id_idx`));
    // user_id and its index (bindUser), gone_until (destroy marks, one session from the first write).
    expect(migration).toHaveLength(3);
    for (const statement of migration) await pool.query(statement);
    // Twice: a migration that runs again changes nothing.
    for (const statement of migration) await pool.query(statement);
    const indexed = key();
    expect(await store.write(indexed, bound('ada'))).toBe(true);
    expect((await store.listByUser('ada')).map((each) => each.key)).toEqual([indexed]);
    expect(Object.fromEntries((await store.get(kept))?.data ?? [])).toEqual({ a: 1 });
    const index = await pool.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2`, [
      table,
      `${table}_user_id_idx`,
    ]);
    expect(index.rows[0]?.indexdef).toMatch(/\(user_id\) WHERE \(user_id IS NOT NULL\)/);
    // Still without marks until a prune (on its timer in an app) finds the column: no restart.
    expect(await store.adopt(key(), plain())).toBe(false);
    await store.prune();
    // Destroy marks work after the migration: a marked key refuses adoption, an unmarked one takes it.
    const marked = key();
    expect(await store.destroy(marked, 60_000)).toBe(false);
    expect(await store.adopt(marked, plain())).toBe(false);
    const fresh = key();
    expect(await store.adopt(fresh, plain())).toBe(true);
    expect(Object.fromEntries((await store.get(fresh))?.data ?? [])).toEqual({ a: 1 });
  });

  it('createTable: true adds the column and its index to an existing table', async () => {
    const table = await oldTable();
    const store = new PostgresStore({ pool, table, createTable: true, pruneInterval: false });
    const indexed = key();
    expect(await store.write(indexed, bound('ada'))).toBe(true);
    expect((await store.listByUser('ada')).map((each) => each.key)).toEqual([indexed]);
    const index = await pool.query(`SELECT 1 FROM pg_indexes WHERE tablename = $1 AND indexname = $2`, [table, `${table}_user_id_idx`]);
    expect(index.rowCount).toBe(1);
  });
});
