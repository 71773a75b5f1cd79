/**
 * Store details the HTTP contract cannot see: driver usage, on-disk layout, option checks and
 * lifecycle. Against the real servers from test/support/services.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Module } from '@nestjs/common';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import pg from 'pg';
import session from 'express-session';
import { type NovaStoreBackend, SessionModule, type SessionWrite, fromExpressSessionStore, fromNovaStore } from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { PostgresStore } from '@novanest/session/postgres';
import { startApp } from './support/platforms.js';
import { serviceUrl, sleep } from './support/store-contract.js';
import { inject } from 'vitest';

function available(name: 'redis' | 'postgres'): boolean {
  return 'url' in inject(name);
}

function create(set: Record<string, unknown>, ttl = 60_000): SessionWrite {
  return { mode: 'create', set: new Map(Object.entries(set)), delete: [], clear: false, createdAt: Date.now(), ttl };
}

function update(set: Record<string, unknown>, remove: string[] = [], clear = false, ttl = 60_000): SessionWrite {
  return { mode: 'update', set: new Map(Object.entries(set)), delete: remove, clear, createdAt: 0, ttl };
}

describe('RedisStore', () => {
  let client: Redis;
  const prefix = `drivers:${randomBytes(6).toString('hex')}:`;

  beforeAll(async () => {
    if (!available('redis')) return;
    client = new Redis(serviceUrl('redis'));
    if (client.status !== 'ready') await once(client, 'ready');
  });
  // Without Redis every case fails with the sentence that says how to get it.
  beforeEach(() => void serviceUrl('redis'));

  afterAll(async () => {
    if (client === undefined) return;
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });

  it('refuses to start without an ioredis client', () => {
    expect(() => new RedisStore({} as never)).toThrow(/RedisStore needs an ioredis client/);
  });

  it('keeps one hash per session: data fields d:<key> with JSON, a creation stamp, a TTL', async () => {
    const store = new RedisStore({ client, prefix });
    await store.write('k1', create({ user: { name: 'ada' }, n: 1 }));
    const raw = (await client.call('HGETALL', `${prefix}k1`)) as string[];
    const fields = new Map<string, string>();
    for (let i = 0; i < raw.length; i += 2) fields.set(raw[i], raw[i + 1]);
    expect(fields.get('d:user')).toBe('{"name":"ada"}');
    expect(fields.get('d:n')).toBe('1');
    expect(Number(fields.get('m:created'))).toBeGreaterThan(0);
    const ttl = await client.pttl(`${prefix}k1`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('merges per key, clears data but keeps the creation time', async () => {
    const store = new RedisStore({ client, prefix });
    const first = create({ a: 1, b: 2 });
    await store.write('k2', first);
    expect(await store.write('k2', update({ c: 3 }, ['a']))).toBe(true);
    expect(Object.fromEntries((await store.get('k2'))?.data ?? [])).toEqual({ b: 2, c: 3 });
    expect(await store.write('k2', update({ d: 4 }, [], true))).toBe(true);
    const after = await store.get('k2');
    expect(Object.fromEntries(after?.data ?? [])).toEqual({ d: 4 });
    expect(after?.createdAt).toBe(first.createdAt);
  });

  it('an update or touch of a missing session writes nothing and answers false', async () => {
    const store = new RedisStore({ client, prefix });
    expect(await store.write('gone', update({ a: 1 }))).toBe(false);
    expect(await store.touch('gone', 60_000)).toBe(false);
    expect(await client.exists(`${prefix}gone`)).toBe(0);
  });

  /**
   * A connection of its own whose script calls (EVALSHA, as ioredis's `defineCommand` issues
   * them) are answered by `answer` instead of Redis when it returns an error; ioredis funnels
   * every command through `sendCommand`, so that is where the answer is faked.
   */
  async function scriptClient(answer: (sha: string) => Error | undefined): Promise<Redis> {
    const own = client.duplicate();
    const send = own.sendCommand.bind(own);
    own.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
      const [command] = args;
      const error = command.name === 'evalsha' ? answer(String(command.args[0])) : undefined;
      if (error === undefined) return send(...args);
      command.reject(error);
      return command.promise;
    }) as Redis['sendCommand'];
    if (own.status !== 'ready') await once(own, 'ready');
    return own;
  }

  it('falls back to EVAL when Redis has forgotten its scripts (restart, failover, SCRIPT FLUSH)', async () => {
    // The real client, except that each script call first meets NOSCRIPT, as after a restart
    // of Redis. (A real SCRIPT FLUSH would disturb the other suites sharing this server.)
    let refused = 0;
    const refusedOnce = new Set<string>();
    const forgetful = await scriptClient((sha) => {
      // ioredis answers NOSCRIPT by sending the script again (its source this time): let that one through.
      if (refusedOnce.delete(sha)) return undefined;
      refusedOnce.add(sha);
      refused++;
      return new Error('NOSCRIPT No matching script. Please use EVAL.');
    });
    try {
      const store = new RedisStore({ client: forgetful, prefix });
      await store.write('k3', create({ a: 1 }));
      expect(Object.fromEntries((await store.get('k3'))?.data ?? [])).toEqual({ a: 1 });
      expect(refused).toBe(2);
    } finally {
      forgetful.disconnect();
    }
  });

  it('surfaces any other script error instead of retrying it', async () => {
    const broken = await scriptClient(() => new Error("READONLY You can't write against a read only replica."));
    try {
      await expect(new RedisStore({ client: broken, prefix }).get('k3')).rejects.toThrow(/READONLY/);
    } finally {
      broken.disconnect();
    }
  });

  it('touch extends the TTL only; destroy removes the hash', async () => {
    const store = new RedisStore({ client, prefix });
    await store.write('k4', create({ a: 1 }, 1_000));
    expect(await store.touch('k4', 50_000)).toBe(true);
    expect(await client.pttl(`${prefix}k4`)).toBeGreaterThan(45_000);
    await store.destroy('k4');
    expect(await client.exists(`${prefix}k4`)).toBe(0);
  });

  it('does not close the client it was given when the application shuts down', async () => {
    const own = new Redis(serviceUrl('redis'));
    @Module({ imports: [SessionModule.forRoot(new RedisStore({ client: own, prefix }))] })
    class RedisAppModule {}
    const app = await startApp('express', RedisAppModule);
    await app.close();
    expect(await own.ping()).toBe('PONG');
    own.disconnect();
  });
});

describe('PostgresStore', () => {
  let pool: pg.Pool;
  const tables: string[] = [];
  const freshTable = (): string => {
    const table = `drivers_${randomBytes(6).toString('hex')}`;
    tables.push(table);
    return table;
  };

  beforeAll(() => {
    if (available('postgres')) pool = new pg.Pool({ connectionString: serviceUrl('postgres') });
  });
  beforeEach(() => void serviceUrl('postgres'));

  afterAll(async () => {
    if (pool === undefined) return;
    for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
    await pool.end();
  });

  it('checks the table name at construction', () => {
    const bad = ['sessions; DROP TABLE users', 'a"b', '', 'a.b.c', '1abc', 'x'.repeat(64)];
    for (const table of bad) {
      expect(() => new PostgresStore({ pool, table })).toThrow(/PostgresStore table must be an identifier/);
    }
    expect(() => new PostgresStore({ pool, table: 'auth.sessions' })).not.toThrow();
    expect(() => new PostgresStore({} as never)).toThrow(/PostgresStore needs a pg Pool/);
    expect(() => new PostgresStore({ pool, pruneInterval: 0 })).toThrow(/pruneInterval/);
    expect(() => new PostgresStore({ pool, preparedStatements: 'yes' as never })).toThrow(
      'PostgresStore preparedStatements must be true or false, got yes',
    );
  });

  it('prepares each statement once per connection, with names of its own per table', async () => {
    // One connection, so pg_prepared_statements (which is per connection) sees what the store did.
    const single = new pg.Pool({ connectionString: serviceUrl('postgres'), max: 1 });
    try {
      const first = new PostgresStore({ pool: single, table: freshTable(), createTable: true });
      const second = new PostgresStore({ pool: single, table: freshTable(), createTable: true });
      for (const store of [first, second]) {
        await store.write('k', create({ a: 1 }));
        await store.get('k');
        expect(await store.write('k', update({ b: 2 }))).toBe(true);
        expect(Object.fromEntries((await store.get('k'))?.data ?? [])).toEqual({ a: 1, b: 2 });
      }
      const prepared = await single.query<{ name: string; statement: string }>(
        `SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'novanest_session_%' ORDER BY name`,
      );
      // insert, select and update for each of the two tables: six, each prepared once.
      expect(prepared.rows).toHaveLength(6);
      for (const statement of ['insert', 'select', 'update']) {
        const own = prepared.rows.filter((row) => row.name.startsWith(`novanest_session_${statement}_`));
        expect(own).toHaveLength(2);
        expect(new Set(own.map((row) => row.statement)).size).toBe(2);
      }
    } finally {
      await single.end();
    }
  });

  it('sends unnamed statements with preparedStatements: false', async () => {
    const single = new pg.Pool({ connectionString: serviceUrl('postgres'), max: 1 });
    try {
      const store = new PostgresStore({ pool: single, table: freshTable(), createTable: true, preparedStatements: false });
      await store.write('k', create({ a: 1 }));
      expect(Object.fromEntries((await store.get('k'))?.data ?? [])).toEqual({ a: 1 });
      const prepared = await single.query(`SELECT name FROM pg_prepared_statements`);
      expect(prepared.rows).toEqual([]);
    } finally {
      await single.end();
    }
  });

  it('works on a table made by the shipped postgres.schema.sql', async () => {
    const schema = `drivers_schema_${randomBytes(4).toString('hex')}`;
    const sql = await readFile(createRequire(import.meta.url).resolve('@novanest/session/postgres.schema.sql'), 'utf8');
    const client = await pool.connect();
    try {
      await client.query(`CREATE SCHEMA "${schema}"`);
      await client.query(`SET search_path TO "${schema}"`);
      await client.query(sql);
      await client.query('RESET search_path');
      const store = new PostgresStore({ pool, table: `${schema}.sessions` });
      await store.write('k', create({ a: 1 }));
      expect(Object.fromEntries((await store.get('k'))?.data ?? [])).toEqual({ a: 1 });
      const index = await client.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'sessions'`, [schema]);
      expect(index.rows.map((row: { indexdef: string }) => row.indexdef).join('\n')).toMatch(/\(expires_at\)/);
    } finally {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      client.release();
    }
  });

  it('creates its table once, even when several nodes start at the same moment', async () => {
    const table = freshTable();
    const stores = Array.from({ length: 4 }, () => new PostgresStore({ pool, table, createTable: true }));
    await Promise.all(stores.map((store, i) => store.write(`k${i}`, create({ i }))));
    for (let i = 0; i < 4; i++) expect((await stores[0].get(`k${i}`))?.data.get('i')).toBe(i);
  });

  it('passes keys and values only as parameters', async () => {
    const store = new PostgresStore({ pool, table: freshTable(), createTable: true });
    const key = `a'b"c\\d; DROP TABLE x; --`;
    await store.write(key, create({ "it's": `"quoted" ' value` }));
    expect(Object.fromEntries((await store.get(key))?.data ?? [])).toEqual({ "it's": `"quoted" ' value` });
  });

  it('refuses, with the reason, strings that jsonb cannot hold; look-alike text is fine', async () => {
    const store = new PostgresStore({ pool, table: freshTable(), createTable: true });
    await expect(store.write('k', create({ a: 'x\u0000y' }))).rejects.toThrow(/U\+0000 or an unpaired surrogate/);
    await expect(store.write('k', create({ a: 'x\ud800y' }))).rejects.toThrow(/unpaired surrogate/);
    expect(await store.get('k')).toBeUndefined();
    const tricky = { a: '\\u0000 is text', b: 'paired 😀', 'key\\ud800': 1 };
    await store.write('k', create(tricky));
    expect(Object.fromEntries((await store.get('k'))?.data ?? [])).toEqual(tricky);
  });

  it('merges per key in one statement and never revives a missing row', async () => {
    const store = new PostgresStore({ pool, table: freshTable(), createTable: true });
    await store.write('k', create({ a: 1, b: 2 }));
    expect(await store.write('k', update({ c: 3 }, ['a']))).toBe(true);
    expect(Object.fromEntries((await store.get('k'))?.data ?? [])).toEqual({ b: 2, c: 3 });
    await store.destroy('k');
    expect(await store.write('k', update({ d: 4 }))).toBe(false);
    expect(await store.touch('k', 60_000)).toBe(false);
    expect(await store.get('k')).toBeUndefined();
  });

  it('ignores expired rows at once and prune() deletes them', async () => {
    const table = freshTable();
    const store = new PostgresStore({ pool, table, createTable: true, pruneInterval: false });
    await store.write('short', create({ a: 1 }, 50));
    await store.write('long', create({ a: 1 }));
    await sleep(120);
    expect(await store.get('short')).toBeUndefined();
    expect(await store.write('short', update({ b: 1 }))).toBe(false);
    expect(await store.prune()).toBe(1);
    const left = await pool.query(`SELECT count(*)::int AS n FROM "${table}"`);
    expect(left.rows[0].n).toBe(1);
  });

  it('stops its prune timer at shutdown and leaves the pool open', async () => {
    const own = new pg.Pool({ connectionString: serviceUrl('postgres') });
    const store = new PostgresStore({ pool: own, table: freshTable(), createTable: true, pruneInterval: 3600 });
    @Module({ imports: [SessionModule.forRoot(store)] })
    class PostgresAppModule {}
    const app = await startApp('express', PostgresAppModule);
    const started = vi.spyOn(globalThis, 'setInterval');
    const cleared = vi.spyOn(globalThis, 'clearInterval');
    try {
      await store.write('k', create({ a: 1 }));
      expect(started).toHaveBeenCalledTimes(1);
      const timer = started.mock.results[0]?.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      await app.close();
      expect(cleared).toHaveBeenCalledWith(timer);
    } finally {
      started.mockRestore();
      cleared.mockRestore();
    }
    expect((await own.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await own.end();
  });
});

describe('Nova-style adapter', () => {
  function mapBackend(): NovaStoreBackend & { data: Map<string, Map<string, unknown>>; calls: string[] } {
    const data = new Map<string, Map<string, unknown>>();
    const calls: string[] = [];
    return {
      data,
      calls,
      getValue: (id, key) => data.get(id)?.get(key),
      setValue: (id, key, value) => void data.set(id, (data.get(id) ?? new Map()).set(key, value)),
      deleteValue: (id, key) => void (key === undefined ? data.delete(id) : data.get(id)?.delete(key)),
      start: () => void calls.push('start'),
      stop: () => void calls.push('stop'),
    };
  }

  it('refuses a backend that lacks one of the functions', () => {
    expect(() => fromNovaStore({ getValue: () => undefined } as never)).toThrow(/must implement setValue/);
  });

  it('calls start at application start and stop at shutdown', async () => {
    const backend = mapBackend();
    @Module({ imports: [SessionModule.forRoot(fromNovaStore(backend))] })
    class NovaAppModule {}
    const app = await startApp('express', NovaAppModule);
    expect(backend.calls).toEqual(['start']);
    await app.close();
    expect(backend.calls).toEqual(['start', 'stop']);
  });

  it('stores values under v:<key> and its bookkeeping under m, and forgets an expired session', async () => {
    const backend = mapBackend();
    const store = fromNovaStore(backend);
    await store.write('id1', create({ user: 'ada' }, 50));
    expect(backend.data.get('id1')?.get('v:user')).toBe('ada');
    expect(backend.data.get('id1')?.get('m')).toMatchObject({ keys: ['user'] });
    await sleep(80);
    expect(await store.get('id1')).toBeUndefined();
    expect(backend.data.has('id1')).toBe(false);
  });

  it('hands out copies: changing a value read from the store changes nothing stored', async () => {
    const backend = mapBackend();
    const store = fromNovaStore(backend);
    await store.write('id2', create({ list: [1] }));
    const read = await store.get('id2');
    (read?.data.get('list') as number[]).push(2);
    expect((await store.get('id2'))?.data.get('list')).toEqual([1]);
  });
});

describe('express-session adapter', () => {
  it('writes cookie.expires so the wrapped store expires the record by itself', async () => {
    const wrapped = new session.MemoryStore();
    const store = fromExpressSessionStore(wrapped);
    await store.write('sid', create({ a: 1 }, 50));
    const raw = await new Promise<unknown>((resolve) => wrapped.get('sid', (_error, value) => resolve(value)));
    expect(raw).toMatchObject({ data: { a: 1 }, cookie: { originalMaxAge: 50 } });
    await sleep(80);
    const later = await new Promise<unknown>((resolve) => wrapped.get('sid', (_error, value) => resolve(value)));
    expect(later).toBeFalsy();
  });

  it('turns a store error into a rejected promise (the request then gets its 503)', async () => {
    const store = fromExpressSessionStore({
      get: (_sid, callback) => callback(new Error('connection refused')),
      set: (_sid, _value, callback) => callback?.(new Error('connection refused')),
      destroy: () => {
        throw new Error('thrown synchronously');
      },
    });
    await expect(store.get('x')).rejects.toThrow('connection refused');
    await expect(store.write('x', create({ a: 1 }))).rejects.toThrow('connection refused');
    await expect(store.destroy('x')).rejects.toThrow('thrown synchronously');
  });

  it('refuses something that is not a connect-style store', () => {
    expect(() => fromExpressSessionStore({} as never)).toThrow(/connect-style store with get/);
  });
});
