import type { Logger } from '@nestjs/common';
import { parseSetCookie } from 'cookie';
import { SessionCookieWriter } from '../cookie/session-cookie.js';
import { generateSessionId, sessionStoreKey } from '../cookie/session-id.js';
import { createSessionPersistence } from '../persistence/session-persistence.factory.js';
import { SessionStoreUnavailableException, SessionTooLargeError, SessionValueError } from '../session.exceptions.js';
import { SessionHandle, type SessionHandleDeps } from './session.handle.js';
import type { SessionModuleOptions } from '../session-options.interface.js';
import { resolveSessionOptions } from '../session-options.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import { MemoryStore } from '../stores/memory/memory.store.js';
import { SessionStore, type SessionWrite, type StoredSession } from '../stores/session.store.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

type StoreCall =
  | { op: 'get'; key: string }
  | { op: 'write'; key: string; change: SessionWrite }
  | { op: 'touch'; key: string; ttl: number }
  | { op: 'destroy'; key: string };

/** Passes every call to the inner store and records it. */
class RecordingStore extends SessionStore {
  readonly calls: StoreCall[] = [];

  constructor(readonly inner: SessionStore) {
    super();
  }

  ops(): string[] {
    return this.calls.map((call) => call.op);
  }

  writes(): Extract<StoreCall, { op: 'write' }>[] {
    return this.calls.filter((call): call is Extract<StoreCall, { op: 'write' }> => call.op === 'write');
  }

  reset(): void {
    this.calls.length = 0;
  }

  get(key: string): Promise<StoredSession | undefined> {
    this.calls.push({ op: 'get', key });
    return this.inner.get(key);
  }

  write(key: string, change: SessionWrite): Promise<boolean> {
    // Snapshot: the handle must not be able to change what was recorded afterwards.
    this.calls.push({ op: 'write', key, change: { ...change, set: new Map(change.set), delete: [...change.delete] } });
    return this.inner.write(key, change);
  }

  touch(key: string, ttl: number): Promise<boolean> {
    this.calls.push({ op: 'touch', key, ttl });
    return this.inner.touch(key, ttl);
  }

  destroy(key: string): Promise<boolean | void> {
    this.calls.push({ op: 'destroy', key });
    return this.inner.destroy(key);
  }
}

function stubLogger() {
  return { debug: vi.fn(), log: vi.fn(), warn: vi.fn(), error: vi.fn(), verbose: vi.fn(), fatal: vi.fn() };
}

/** A store, a handle factory and a browser that keeps the cookie between requests. */
function setup(options: SessionModuleOptions = {}, inner: SessionStore = new MemoryStore()) {
  const store = new RecordingStore(inner);
  const logger = stubLogger();
  const resolved = resolveSessionOptions(options);
  const cookies = new SessionCookieWriter(resolved);
  const deps: SessionHandleDeps = {
    persistence: createSessionPersistence(store, resolved, cookies, logger as unknown as Logger),
    options: resolved,
    logger: logger as unknown as Logger,
    cookies,
  };
  // The incoming id stands for a cookie the manager has already decoded.
  const open = (incomingId?: string, secure = false): SessionHandle =>
    new SessionHandle(deps, incomingId === undefined ? undefined : { id: incomingId, stale: false }, () => secure);
  return { store, logger, deps, open };
}

type Env = ReturnType<typeof setup>;

/** Plays one client: sends its cookie, applies the Set-Cookie headers it gets back. */
class Browser {
  id: string | undefined;

  constructor(private readonly env: Env) {}

  async request(
    work: (session: SessionHandle) => Promise<unknown> | void = () => undefined,
    status = 200,
  ): Promise<{ session: SessionHandle; setCookie: string[] }> {
    const session = this.env.open(this.id);
    await work(session);
    await session.finalize(status);
    const setCookie = session.setCookieHeaders();
    for (const header of setCookie) {
      const cookie = parseSetCookie(header);
      this.id = cookie.maxAge === 0 ? undefined : cookie.value;
    }
    return { session, setCookie };
  }
}

/** The one Set-Cookie of a response, parsed. */
function onlyCookie(headers: string[]) {
  expect(headers).toHaveLength(1);
  const cookie = parseSetCookie(headers[0]);
  expect(typeof cookie.value).toBe('string');
  return { ...cookie, value: cookie.value ?? '' };
}

async function storedData(env: Env, id: string): Promise<Record<string, unknown> | undefined> {
  const record = await env.store.inner.get(sessionStoreKey(id));
  return record === undefined ? undefined : Object.fromEntries(record.data);
}

let stores: MemoryStore[] = [];

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
  stores = [];
});

afterEach(() => {
  for (const store of stores) store.onApplicationShutdown();
  vi.useRealTimers();
});

/** A memory store that is shut down after the test. */
function memory(): MemoryStore {
  const store = new MemoryStore();
  stores.push(store);
  return store;
}

describe('SessionHandle', () => {
  describe('laziness', () => {
    it('a new visitor makes zero store calls, even for get, all and a commit, and still gets a cookie', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      expect(await session.get('anything')).toBeUndefined();
      expect(await session.all()).toEqual({});
      await session.load();
      expect(session.isNew).toBe(true);
      await session.finalize(200);
      expect(env.store.calls).toEqual([]);
      expect(onlyCookie(session.setCookieHeaders()).value).toBe(session.id);
    });

    it('a returning visitor makes no store call until a method is awaited', async () => {
      const env = setup({}, memory());
      const id = generateSessionId();
      const session = env.open(id);
      expect(session.id).toBe(id);
      expect(env.store.calls).toEqual([]);
      await session.get('a');
      expect(env.store.calls).toEqual([{ op: 'get', key: sessionStoreKey(id) }]);
    });

    it('a returning visitor whose session nobody used makes zero store calls at commit', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      const { setCookie } = await browser.request();
      expect(env.store.calls).toEqual([]);
      expect(setCookie).toEqual([]);
    });

    it('loads once per request however many reads it makes', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      await browser.request(async (s) => {
        await Promise.all([s.get('a'), s.get('b'), s.all()]);
        await s.get('a');
      });
      expect(env.store.ops()).toEqual(['get']);
    });

    it('the store only ever sees SHA-256 keys, never a raw id', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      const ids: string[] = [];
      await browser.request((s) => s.set('a', 1));
      ids.push(browser.id!);
      await browser.request((s) => s.regenerate());
      ids.push(browser.id!);
      await browser.request(async (s) => s.get('a'));
      await browser.request((s) => s.destroy());
      expect(env.store.calls.length).toBeGreaterThan(0);
      for (const call of env.store.calls) {
        expect(ids).not.toContain(call.key);
        expect(ids.map(sessionStoreKey)).toContain(call.key);
      }
    });
  });

  describe('operations across requests', () => {
    it('set, get, delete, all and clear carry over from one request to the next', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);

      const first = await browser.request(async (s) => {
        expect(s.isNew).toBe(true);
        await s.set('user', 'ada');
        await s.set('cart', { items: ['apple'] });
        expect(await s.get('user')).toBe('ada');
      });
      const id = browser.id!;
      expect(first.session.id).toBe(id);
      expect(first.session.isNew).toBe(false);

      const second = await browser.request(async (s) => {
        expect(s.id).toBe(id);
        expect(await s.get('user')).toBe('ada');
        expect(await s.get('cart')).toEqual({ items: ['apple'] });
        expect(s.isNew).toBe(false);
        await s.delete('cart');
        await s.set('theme', 'dark');
        expect(await s.get('cart')).toBeUndefined();
        expect(await s.all()).toEqual({ user: 'ada', theme: 'dark' });
      });
      // Same id: nothing to tell the client.
      expect(second.setCookie).toEqual([]);

      await browser.request(async (s) => {
        expect(await s.all()).toEqual({ user: 'ada', theme: 'dark' });
        await s.clear();
        expect(await s.all()).toEqual({});
      });
      expect(browser.id).toBe(id);

      await browser.request(async (s) => {
        expect(await s.all()).toEqual({});
        expect(s.id).toBe(id);
      });
      expect(await storedData(env, id)).toEqual({});
    });

    it('clear then set in one request keeps only the new keys', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request(async (s) => {
        await s.set('a', 1);
        await s.set('b', 2);
      });
      await browser.request(async (s) => {
        await s.clear();
        await s.set('c', 3);
      });
      expect(await storedData(env, browser.id!)).toEqual({ c: 3 });
      const write = env.store.writes().at(-1)!.change;
      expect(write).toMatchObject({ mode: 'update', clear: true });
      expect(Object.fromEntries(write.set)).toEqual({ c: 3 });
    });

    it('flushes the staged changes of a request in one write, only the keys it changed', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request(async (s) => {
        await s.set('keep', 'k');
        await s.set('gone', 'g');
      });
      env.store.reset();
      await browser.request(async (s) => {
        await s.set('n', 1);
        await s.set('n', 2);
        await s.set('n', 3);
        await s.delete('gone');
        await s.set('x', 'y');
        await s.delete('x');
        await s.set('z', true);
      });
      const writes = env.store.writes();
      expect(writes).toHaveLength(1);
      const change = writes[0].change;
      expect(change.mode).toBe('update');
      expect(change.clear).toBe(false);
      expect(Object.fromEntries(change.set)).toEqual({ n: 3, z: true });
      expect([...change.delete].sort()).toEqual(['gone', 'x']);
      expect(await storedData(env, browser.id!)).toEqual({ keep: 'k', n: 3, z: true });
    });

    it('creates a record only once something is written, holding exactly the data', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request(async (s) => {
        await s.set('a', 1);
        await s.delete('a');
      });
      expect(env.store.writes()).toEqual([]);
      await browser.request(async (s) => {
        await s.set('a', 1);
        await s.set('b', [1, 2]);
      });
      const writes = env.store.writes();
      expect(writes).toHaveLength(1);
      expect(writes[0].change.mode).toBe('create');
      expect(Object.fromEntries(writes[0].change.set)).toEqual({ a: 1, b: [1, 2] });
    });

    it('a "__proto__" key round-trips as plain data and pollutes nothing', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      const payload = JSON.parse('{"polluted":true}') as object;
      await browser.request((s) => s.set('__proto__', payload));
      await browser.request(async (s) => {
        expect(await s.get('__proto__')).toEqual({ polluted: true });
        const all = await s.all();
        expect(Object.prototype.hasOwnProperty.call(all, '__proto__')).toBe(true);
        expect(Object.getPrototypeOf(all)).toBe(Object.prototype);
        expect((all as { polluted?: unknown }).polluted).toBeUndefined();
      });
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    });

    it('refuses an empty key', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      await expect(session.get('')).rejects.toThrow(SessionValueError);
      await expect(session.set('', 1)).rejects.toThrow(SessionValueError);
      await expect(session.delete('')).rejects.toThrow(SessionValueError);
    });
  });

  describe('commit by response status', () => {
    it('finalize(500) writes nothing and sends no cookie', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      const { session, setCookie } = await browser.request((s) => s.set('a', 1), 500);
      expect(env.store.calls).toEqual([]);
      expect(setCookie).toEqual([]);
      expect(session.isSettled).toBe(true);
      expect(browser.id).toBeUndefined();
    });

    it('finalize(500) leaves an existing session as it was', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      const { setCookie } = await browser.request(async (s) => {
        await s.set('a', 2);
        await s.set('b', 3);
        await s.regenerate();
      }, 503);
      expect(env.store.ops()).toEqual(['get']);
      expect(setCookie).toEqual([]);
      expect(await storedData(env, browser.id!)).toEqual({ a: 1 });
    });

    it.each([200, 201, 204, 302, 303, 400, 401, 403, 404, 422, 499])('finalize(%i) commits', async (status) => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', status), status);
      expect(browser.id).toBeDefined();
      expect(await storedData(env, browser.id!)).toEqual({ a: status });
    });

    it('finalize is idempotent: a second call neither writes again nor changes the outcome', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      await session.set('a', 1);
      await session.finalize(200);
      await session.finalize(500);
      expect(env.store.writes()).toHaveLength(1);
      expect(session.setCookieHeaders()).toHaveLength(1);
    });

    it('sends no cookie before the commit', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      await session.set('a', 1);
      expect(session.isSettled).toBe(false);
      expect(session.setCookieHeaders()).toEqual([]);
    });

    it('discard() writes nothing and sends no cookie, and a later finalize(200) does not commit', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      const session = env.open(browser.id);
      await session.set('a', 2);
      session.discard();
      expect(session.isSettled).toBe(true);
      await session.finalize(200);
      expect(env.store.writes()).toEqual([]);
      expect(session.setCookieHeaders()).toEqual([]);
      expect(await storedData(env, browser.id!)).toEqual({ a: 1 });
    });

    it('discard() after the commit changes nothing', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      await session.set('a', 1);
      await session.finalize(200);
      session.discard();
      expect(session.setCookieHeaders()).toHaveLength(1);
      expect(await storedData(env, session.id)).toEqual({ a: 1 });
    });
  });

  describe('values refused at set', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;

    it.each([
      ['a function', () => 1],
      ['a BigInt', 1n],
      ['a cycle', cyclic],
      ['a nested function', { deep: [{ f: () => 1 }] }],
    ])('refuses %s with SessionValueError and writes nothing', async (_label, value) => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      const { setCookie } = await browser.request(async (s) => {
        await expect(s.set('a', value)).rejects.toThrow(SessionValueError);
        await expect(s.set('b', value)).rejects.toThrow(/session value "b"/);
        // The refused value left nothing staged: the old value is still what the session holds.
        expect(await s.get('a')).toBe(1);
        expect(await s.get('b')).toBeUndefined();
      });
      expect(env.store.writes()).toEqual([]);
      expect(setCookie).toEqual([]);
      expect(await storedData(env, browser.id!)).toEqual({ a: 1 });
    });

    it('refuses before any store call', async () => {
      const env = setup({}, memory());
      const session = env.open(generateSessionId());
      await expect(session.set('f', () => 1)).rejects.toThrow(SessionValueError);
      expect(env.store.calls).toEqual([]);
    });

    it('a new visitor whose only set was refused gets no record', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request(async (s) => {
        await expect(s.set('n', 10n)).rejects.toThrow(SessionValueError);
      });
      expect(env.store.writes()).toEqual([]);
    });

    it('copies on set: mutating the object afterwards does not change what is stored', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      const cart = { items: ['apple'] };
      await browser.request(async (s) => {
        await s.set('cart', cart);
        cart.items.push('pear');
      });
      expect(await storedData(env, browser.id!)).toEqual({ cart: { items: ['apple'] } });
    });
  });

  describe('size limit of a server-side store (maxSessionBytes)', () => {
    /** The session's data as the store holds it, in UTF-8 bytes of one JSON object. */
    const jsonBytes = (data: Record<string, unknown>): number => Buffer.byteLength(JSON.stringify(data));

    it('refuses a 1 MB value at set by default, keeps the session as it was, and commits nothing of it', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('user', 'ada'));
      env.store.reset();
      const big = 'x'.repeat(1024 * 1024);
      let refused: unknown;
      await browser.request(async (s) => {
        refused = await s.set('big', big).catch((error: unknown) => error);
        expect(await s.all()).toEqual({ user: 'ada' });
      });
      expect(refused).toBeInstanceOf(SessionTooLargeError);
      expect(refused).toMatchObject({ size: jsonBytes({ user: 'ada', big }), limit: 65_536, where: 'store' });
      expect(env.store.writes()).toEqual([]);
      expect(await storedData(env, browser.id!)).toEqual({ user: 'ada' });
    });

    it('counts the whole session: the set that crosses the limit is refused, a later one that fits is kept', async () => {
      const env = setup({ maxSessionBytes: 100 }, memory());
      const browser = new Browser(env);
      const value = 'v'.repeat(20); // each key: "kN":"vvv…", = 28 bytes
      await browser.request(async (s) => {
        for (const key of ['k1', 'k2', 'k3']) await s.set(key, value); // 1 + 3 * 28 = 85 bytes
        await expect(s.set('k4', value)).rejects.toThrow(SessionTooLargeError); // 113
        await s.set('k1', 'short'); // replacing a value frees its bytes: 70
        await s.set('k4', value); // 98
        await expect(s.set('k5', 1)).rejects.toThrow(
          'session would be 105 bytes of JSON, over the 100-byte limit (maxSessionBytes); store less in the session or raise maxSessionBytes',
        );
      });
      const stored = { k1: 'short', k2: value, k3: value, k4: value };
      expect(await storedData(env, browser.id!)).toEqual(stored);
      expect(jsonBytes(stored)).toBe(98);

      // A later request measures the loaded session: a delete makes room, a clear empties it.
      await browser.request(async (s) => {
        await expect(s.set('k5', 1)).rejects.toThrow(SessionTooLargeError);
        await s.delete('k2');
        await s.set('k5', 1);
      });
      expect(await storedData(env, browser.id!)).toEqual({ k1: 'short', k3: value, k4: value, k5: 1 });
      await browser.request(async (s) => {
        await s.clear();
        await s.set('fresh', 'x'.repeat(80)); // 1 + 7 + 1 + 82 + 1 = 92 bytes
      });
      expect(await storedData(env, browser.id!)).toEqual({ fresh: 'x'.repeat(80) });
    });

    it('counts flash messages waiting for the next request, and refuses one that does not fit', async () => {
      const env = setup({ maxSessionBytes: 100 }, memory());
      const browser = new Browser(env);
      await browser.request(async (s) => {
        await s.set('a', 'x'.repeat(40));
        await s.flash('notice', 'y'.repeat(20));
        await expect(s.set('b', 'z'.repeat(30))).rejects.toThrow(SessionTooLargeError);
        await expect(s.flash('more', 'z'.repeat(30))).rejects.toThrow(SessionTooLargeError);
      });
      let flash: unknown;
      await browser.request(async (s) => {
        flash = [await s.getFlash('notice'), await s.getFlash('more')];
      });
      expect(flash).toEqual(['y'.repeat(20), undefined]);
    });

    it('keeps counting after regenerate and a refused value, under the new id', async () => {
      const env = setup({ maxSessionBytes: 60 }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 'x'.repeat(30)));
      await browser.request(async (s) => {
        await s.regenerate();
        await expect(s.set('b', 'y'.repeat(30))).rejects.toThrow(SessionTooLargeError);
        await s.set('b', 1);
      });
      expect(await storedData(env, browser.id!)).toEqual({ a: 'x'.repeat(30), b: 1 });
    });

    it('holds stageNow (how the express-session-compatible req.session stages) to the limit; its removals make room', async () => {
      const env = setup({ maxSessionBytes: 100 }, memory());
      const browser = new Browser(env);
      const value = 'v'.repeat(40); // "kN":"vvv…", = 47 bytes
      await browser.request((s) => s.set('k1', value)); // 48 bytes
      await browser.request(async (s) => {
        await s.load();
        s.stageNow('k2', value); // 95
        expect(() => s.stageNow('k3', value)).toThrow(SessionTooLargeError); // 142
        s.stageNow('k1', undefined); // 48
        s.stageNow('k3', value); // 95
      });
      expect(await storedData(env, browser.id!)).toEqual({ k2: value, k3: value });
    });

    it('with maxSessionBytes: false, accepts a session of any size', async () => {
      const env = setup({ maxSessionBytes: false }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('big', 'x'.repeat(1024 * 1024)));
      expect((await storedData(env, browser.id!))?.big).toHaveLength(1024 * 1024);
    });

    /** The memory store without its size report: the handle measures the loaded session itself. */
    class UnreportedSizes extends SessionStore {
      constructor(private readonly inner: MemoryStore) {
        super();
      }
      async get(key: string) {
        const record = await this.inner.get(key);
        return record === undefined ? undefined : { data: record.data, createdAt: record.createdAt, expiresAt: record.expiresAt };
      }
      write(key: string, change: SessionWrite) {
        return this.inner.write(key, change);
      }
      touch(key: string, ttl: number) {
        return this.inner.touch(key, ttl);
      }
      destroy(key: string) {
        return this.inner.destroy(key);
      }
    }

    it.each([
      ['a store that reports the size it holds (MemoryStore)', false, 2],
      ['a store that does not', true, 3],
    ])('with %s, stringifies a loaded session at most once per request, whatever the number of sets', async (_label, unreported, times) => {
      const env = setup({}, unreported ? new UnreportedSizes(memory()) : memory());
      const browser = new Browser(env);
      const big = 'b'.repeat(60_000);
      await browser.request((s) => s.set('big', big));
      const stringify = JSON.stringify;
      let characters = 0;
      const spy = vi.spyOn(JSON, 'stringify').mockImplementation((...args: Parameters<typeof JSON.stringify>) => {
        const text = stringify(...args);
        characters += text.length;
        return text;
      });
      try {
        await browser.request(async (s) => {
          for (let i = 0; i < 50; i++) await s.set(`k${i}`, i);
        });
      } finally {
        spy.mockRestore();
      }
      // The store stringifies the record at the commit; without a size report, the limit
      // measures it once at the first set. Measuring it at each of the 50 sets would be 50 times.
      expect(characters).toBeGreaterThan((times - 1) * big.length);
      expect(characters).toBeLessThan(times * big.length);
      expect(Object.keys((await storedData(env, browser.id!)) ?? {})).toHaveLength(51);
    });

    it.each([
      ['a store that reports the size it holds', false],
      ['a store that does not', true],
    ])('with %s, counts a loaded session exactly, without the flash messages it brought', async (_label, unreported) => {
      const env = setup({ maxSessionBytes: 100 }, unreported ? new UnreportedSizes(memory()) : memory());
      const browser = new Browser(env);
      await browser.request(async (s) => {
        await s.set('a', 'x'.repeat(40)); // {"a":"xxx…"} = 48 bytes
        await s.flash('notice', 'y'.repeat(10)); // "$flash":{"notice":"yyy…"}, = 33 bytes: 81 in all
      });
      await browser.request(async (s) => {
        expect(await s.getFlash('notice')).toBe('y'.repeat(10));
        // The flash is gone after this request: 48 + "b":"zzz…", (47) = 95 bytes fit (128 with it).
        await s.set('b', 'z'.repeat(40));
        await expect(s.set('c', 1)).rejects.toThrow('session would be 101 bytes of JSON');
      });
      expect(await storedData(env, browser.id!)).toEqual({ a: 'x'.repeat(40), b: 'z'.repeat(40) });
    });
  });

  describe('strict mode', () => {
    it('does not adopt a well-formed id that the store does not hold: the first write mints a new one', async () => {
      const env = setup({}, memory());
      const planted = generateSessionId();
      const session = env.open(planted);
      expect(await session.get('a')).toBeUndefined();
      expect(session.isNew).toBe(true);
      await session.set('user', 'victim');
      await session.finalize(200);

      const cookie = onlyCookie(session.setCookieHeaders());
      expect(cookie.value).not.toBe(planted);
      expect(cookie.value).toBe(session.id);
      expect(await env.store.inner.get(sessionStoreKey(planted))).toBeUndefined();
      expect(await storedData(env, cookie.value)).toEqual({ user: 'victim' });
      for (const write of env.store.writes()) expect(write.key).not.toBe(sessionStoreKey(planted));
    });

    it('an unknown id that is never written to is left alone and gets no record', async () => {
      const env = setup({}, memory());
      const planted = generateSessionId();
      const session = env.open(planted);
      await session.get('a');
      await session.finalize(200);
      expect(env.store.writes()).toEqual([]);
      expect(session.setCookieHeaders()).toEqual([]);
    });
  });

  describe('regenerate', () => {
    it('moves the data to a new id and kills the old one', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request(async (s) => {
        await s.set('user', 'ada');
        await s.set('cart', [1]);
      });
      const oldId = browser.id!;
      env.store.reset();

      const { session, setCookie } = await browser.request(async (s) => {
        await s.regenerate();
        expect(s.id).not.toBe(oldId);
        expect(await s.get('user')).toBe('ada');
        await s.set('role', 'admin');
      });
      const newId = onlyCookie(setCookie).value;
      expect(newId).toBe(session.id);
      expect(newId).not.toBe(oldId);
      expect(env.store.calls).toContainEqual({ op: 'destroy', key: sessionStoreKey(oldId) });
      const create = env.store.writes().find((w) => w.key === sessionStoreKey(newId));
      expect(create?.change.mode).toBe('create');

      // The old id finds nothing; the new one finds everything.
      const stale = env.open(oldId);
      expect(await stale.all()).toEqual({});
      expect(stale.isNew).toBe(true);
      const fresh = env.open(newId);
      expect(await fresh.all()).toEqual({ user: 'ada', cart: [1], role: 'admin' });
    });

    it('destroys the old record before writing the new one', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      await browser.request((s) => s.regenerate());
      expect(env.store.ops()).toEqual(['get', 'destroy', 'write']);
    });

    it('on a new visitor just changes the id', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      const before = session.id;
      await session.set('a', 1);
      await session.regenerate();
      expect(session.id).not.toBe(before);
      await session.finalize(200);
      expect(onlyCookie(session.setCookieHeaders()).value).toBe(session.id);
      expect(await storedData(env, session.id)).toEqual({ a: 1 });
      expect(await storedData(env, before)).toBeUndefined();
    });
  });

  describe('destroy', () => {
    it('removes the record and expires the cookie with the same name, Path and Domain', async () => {
      const env = setup({ cookie: { name: 'sid', path: '/app', domain: 'example.com' } }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('user', 'ada'));
      const oldId = browser.id!;
      env.store.reset();

      const { setCookie } = await browser.request(async (s) => {
        await s.destroy();
        expect(await s.get('user')).toBeUndefined();
        expect(s.isNew).toBe(true);
      });
      const cookie = onlyCookie(setCookie);
      expect(cookie).toMatchObject({ name: 'sid', value: '', maxAge: 0, path: '/app', domain: 'example.com' });
      expect(cookie.expires?.getTime()).toBe(0);
      expect(browser.id).toBeUndefined();
      expect(env.store.calls).toContainEqual({ op: 'destroy', key: sessionStoreKey(oldId) });
      expect(env.store.writes()).toEqual([]);

      // The old cookie, replayed, finds nothing and cannot write under the old id.
      const replay = env.open(oldId);
      expect(await replay.all()).toEqual({});
      await replay.set('x', 1);
      await replay.finalize(200);
      expect(onlyCookie(replay.setCookieHeaders()).value).not.toBe(oldId);
      expect(await env.store.inner.get(sessionStoreKey(oldId))).toBeUndefined();
    });

    it('makes no store read first', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      await browser.request((s) => s.destroy());
      expect(env.store.ops()).toEqual(['destroy']);
    });

    it('then set starts a new session under a new id', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('user', 'ada'));
      const oldId = browser.id!;

      const { session, setCookie } = await browser.request(async (s) => {
        await s.destroy();
        await s.set('flash', 'bye');
        expect(await s.all()).toEqual({ flash: 'bye' });
      });
      const cookie = onlyCookie(setCookie);
      expect(cookie.value).toBe(session.id);
      expect(cookie.value).not.toBe(oldId);
      expect(cookie.maxAge).toBeUndefined();
      expect(await env.store.inner.get(sessionStoreKey(oldId))).toBeUndefined();
      expect(await storedData(env, cookie.value)).toEqual({ flash: 'bye' });
    });

    it('a concurrent destroy is not undone by another request that loaded the session before it', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('user', 'ada'));
      const id = browser.id!;

      const slow = env.open(id);
      expect(await slow.get('user')).toBe('ada');

      const logout = env.open(id);
      await logout.destroy();
      await logout.finalize(200);

      await slow.set('lastSeen', 'now');
      await slow.finalize(200);

      expect(await env.store.inner.get(sessionStoreKey(id))).toBeUndefined();
      expect((env.store.inner as MemoryStore).size).toBe(0);
      // The slow request learns the session is gone and clears the client's cookie.
      expect(slow.isNew).toBe(true);
      expect(onlyCookie(slow.setCookieHeaders())).toMatchObject({ name: 'session_id', value: '', maxAge: 0 });
    });
  });

  describe('ignoreChanges', () => {
    it('writes nothing and sends no cookie for a returning visitor', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();
      const { setCookie } = await browser.request(async (s) => {
        await s.set('a', 2);
        await s.regenerate();
        s.ignoreChanges();
      });
      expect(env.store.writes()).toEqual([]);
      expect(env.store.ops()).not.toContain('destroy');
      expect(setCookie).toEqual([]);
      expect(await storedData(env, browser.id!)).toEqual({ a: 1 });
    });

    it('sends no cookie to a new visitor', async () => {
      const env = setup({}, memory());
      const { setCookie } = await new Browser(env).request(async (s) => {
        s.ignoreChanges();
        await s.set('a', 1);
      });
      expect(setCookie).toEqual([]);
      expect(env.store.calls).toEqual([]);
    });
  });

  describe('save', () => {
    it('writes mid-request, so another request sees the data before this one ends', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      env.store.reset();

      const session = env.open(browser.id);
      await session.set('step', 1);
      await session.save();
      expect(env.store.writes()).toHaveLength(1);
      expect(await env.open(browser.id).get('step')).toBe(1);

      await session.set('step', 2);
      await session.finalize(200);
      expect(env.store.writes()).toHaveLength(2);
      expect(Object.fromEntries(env.store.writes()[1].change.set)).toEqual({ step: 2 });
      expect(await storedData(env, browser.id!)).toEqual({ a: 1, step: 2 });
    });

    it('the commit after a save with nothing new staged writes nothing more', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      await session.set('a', 1);
      await session.save();
      await session.finalize(200);
      expect(env.store.writes()).toHaveLength(1);
      expect(onlyCookie(session.setCookieHeaders()).value).toBe(session.id);
    });
  });

  describe('timeouts', () => {
    it('idle: a session used within the idle timeout slides; one left idle for it expires', async () => {
      const env = setup({ idleTimeout: 60, absoluteTimeout: 3600 }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('user', 'ada'));
      const id = browser.id!;

      await vi.advanceTimersByTimeAsync(59 * SECOND);
      await browser.request(async (s) => expect(await s.get('user')).toBe('ada'));
      await vi.advanceTimersByTimeAsync(59 * SECOND);
      // 118 s after creation with a 60 s idle timeout: alive because the last read slid it.
      await browser.request(async (s) => expect(await s.get('user')).toBe('ada'));

      await vi.advanceTimersByTimeAsync(60 * SECOND);
      const { session, setCookie } = await browser.request(async (s) => {
        expect(await s.get('user')).toBeUndefined();
        expect(s.isNew).toBe(true);
        await s.set('user', 'eve');
      });
      expect(onlyCookie(setCookie).value).not.toBe(id);
      expect(session.id).not.toBe(id);
    });

    it('absolute: a session expires at the absolute timeout however active it is', async () => {
      const env = setup({ idleTimeout: 60, absoluteTimeout: 150 }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('n', 0));
      const id = browser.id!;
      for (let n = 1; n <= 2; n++) {
        await vi.advanceTimersByTimeAsync(50 * SECOND);
        await browser.request(async (s) => {
          expect(await s.get('n')).toBe(n - 1);
          await s.set('n', n);
        });
        expect(browser.id).toBe(id);
      }
      await vi.advanceTimersByTimeAsync(50 * SECOND); // 150 s: active every 50 s, yet over
      const { setCookie } = await browser.request(async (s) => {
        expect(await s.get('n')).toBeUndefined();
        expect(s.isNew).toBe(true);
        await s.set('n', 100);
      });
      const newId = onlyCookie(setCookie).value;
      expect(newId).not.toBe(id);
      expect(await storedData(env, newId)).toEqual({ n: 100 });
    });

    it('absolute: enforced by the handle even when the store keeps the record alive', async () => {
      const absoluteTimeout = 3600;
      // A store that honours no TTL at all: it hands back an old session still "alive".
      const id = generateSessionId();
      const ancient: StoredSession = {
        data: new Map<string, unknown>([['user', 'ada']]),
        createdAt: Date.now() - absoluteTimeout * SECOND,
        expiresAt: Date.now() + 365 * 24 * 3600 * SECOND,
      };
      const forgetful = memory();
      const lenient = new (class extends SessionStore {
        get = async (key: string) => (key === sessionStoreKey(id) ? { ...ancient, data: new Map(ancient.data) } : forgetful.get(key));
        write = (key: string, change: SessionWrite) => forgetful.write(key, change);
        touch = (key: string, ttl: number) => forgetful.touch(key, ttl);
        destroy = (key: string) => forgetful.destroy(key);
      })();
      const env = setup({ idleTimeout: 60, absoluteTimeout }, lenient);
      const session = env.open(id);
      expect(await session.get('user')).toBeUndefined();
      await session.set('user', 'eve');
      await session.finalize(200);
      expect(env.store.calls).toContainEqual({ op: 'destroy', key: sessionStoreKey(id) });
      const newId = onlyCookie(session.setCookieHeaders()).value;
      expect(newId).not.toBe(id);
      expect(env.store.writes().every((w) => w.key === sessionStoreKey(newId))).toBe(true);
    });

    it('the store TTL is the idle timeout cut short by the absolute one', async () => {
      const env = setup({ idleTimeout: 100, absoluteTimeout: 150 }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      expect(env.store.writes()[0].change.ttl).toBe(100 * SECOND);
      await vi.advanceTimersByTimeAsync(80 * SECOND);
      await browser.request((s) => s.set('a', 2));
      expect(env.store.writes()[1].change.ttl).toBe(70 * SECOND);
    });

    it('touches only when due, and never writes data on a read-only request', async () => {
      // Idle 600 s: a touch is worth it once the expiry would move by 60 s or more.
      const env = setup({ idleTimeout: 600 }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      const key = sessionStoreKey(browser.id!);
      const createdExpiry = (await env.store.inner.get(key))!.expiresAt;
      env.store.reset();

      await vi.advanceTimersByTimeAsync(10 * SECOND);
      await browser.request(async (s) => s.get('a'));
      expect(env.store.ops()).toEqual(['get']);
      expect((await env.store.inner.get(key))!.expiresAt).toBe(createdExpiry);

      env.store.reset();
      await vi.advanceTimersByTimeAsync(2 * MINUTE);
      await browser.request(async (s) => s.get('a'));
      expect(env.store.ops()).toEqual(['get', 'touch']);
      expect(env.store.calls[1]).toEqual({ op: 'touch', key, ttl: 600 * SECOND });
      expect((await env.store.inner.get(key))!.expiresAt).toBe(Date.now() + 600 * SECOND);
    });
  });

  describe('Set-Cookie', () => {
    it('default attributes, byte for byte', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined, false);
      await session.finalize(200);
      expect(session.setCookieHeaders()).toEqual([`session_id=${session.id}; Path=/; HttpOnly; SameSite=Lax`]);
    });

    it("adds Secure when secure is 'auto' and the request is secure", async () => {
      const env = setup({}, memory());
      const session = env.open(undefined, true);
      await session.finalize(200);
      const [header] = session.setCookieHeaders();
      const [pair, ...attributes] = header.split('; ');
      expect(pair).toBe(`session_id=${session.id}`);
      expect(attributes.sort()).toEqual(['HttpOnly', 'Path=/', 'SameSite=Lax', 'Secure'].sort());
    });

    it('secure: true always adds Secure; secure: false never does', async () => {
      const always = setup({ cookie: { secure: true } }, memory()).open(undefined, false);
      await always.finalize(200);
      expect(parseSetCookie(always.setCookieHeaders()[0]).secure).toBe(true);
      const never = setup({ cookie: { secure: false } }, memory()).open(undefined, true);
      await never.finalize(200);
      expect(parseSetCookie(never.setCookieHeaders()[0]).secure).toBeUndefined();
    });

    it('honours name, path, domain, httpOnly false and sameSite strict', async () => {
      const env = setup({ cookie: { name: 'sid', path: '/app', domain: 'example.com', httpOnly: false, sameSite: 'strict' } }, memory());
      const session = env.open(undefined);
      await session.finalize(200);
      const cookie = onlyCookie(session.setCookieHeaders());
      expect(cookie).toEqual({
        name: 'sid',
        value: session.id,
        path: '/app',
        domain: 'example.com',
        sameSite: 'strict',
      });
    });

    it('the expired cookie of a secure request keeps Secure', async () => {
      const env = setup({}, memory());
      const first = env.open(undefined, true);
      await first.set('a', 1);
      await first.finalize(200);
      const second = env.open(first.id, true);
      await second.destroy();
      await second.finalize(200);
      expect(onlyCookie(second.setCookieHeaders())).toMatchObject({ value: '', maxAge: 0, secure: true, path: '/' });
    });

    it('is sent once: later requests with the same id get none', async () => {
      const env = setup({}, memory());
      const browser = new Browser(env);
      const first = await browser.request((s) => s.set('a', 1));
      expect(first.setCookie).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(10 * MINUTE);
      const second = await browser.request(async (s) => {
        await s.get('a');
        await s.set('b', 2);
      });
      expect(second.setCookie).toEqual([]);
    });

    it('has no Max-Age unless persistent', async () => {
      const env = setup({}, memory());
      const session = env.open(undefined);
      await session.set('a', 1);
      await session.finalize(200);
      expect(onlyCookie(session.setCookieHeaders()).maxAge).toBeUndefined();
    });

    it('persistent: Max-Age is the remaining lifetime, the same figure as the store TTL', async () => {
      const env = setup({ idleTimeout: 100, absoluteTimeout: 150, cookie: { persistent: true } }, memory());
      const browser = new Browser(env);
      const first = await browser.request((s) => s.set('a', 1));
      expect(onlyCookie(first.setCookie).maxAge).toBe(100);
      const key = sessionStoreKey(browser.id!);
      expect((await env.store.inner.get(key))!.expiresAt - Date.now()).toBe(100 * SECOND);

      // 80 s later: 70 s remain before the absolute timeout, less than the idle timeout.
      await vi.advanceTimersByTimeAsync(80 * SECOND);
      const second = await browser.request((s) => s.set('a', 2));
      expect(onlyCookie(second.setCookie)).toMatchObject({ value: browser.id, maxAge: 70 });
      expect((await env.store.inner.get(key))!.expiresAt - Date.now()).toBe(70 * SECOND);
    });

    it('persistent: a due touch re-sends the cookie with the extended Max-Age; a read that is not due sends none', async () => {
      const env = setup({ idleTimeout: 600, cookie: { persistent: true } }, memory());
      const browser = new Browser(env);
      await browser.request((s) => s.set('a', 1));
      await vi.advanceTimersByTimeAsync(10 * SECOND);
      expect((await browser.request(async (s) => s.get('a'))).setCookie).toEqual([]);
      await vi.advanceTimersByTimeAsync(5 * MINUTE);
      const touched = await browser.request(async (s) => s.get('a'));
      expect(onlyCookie(touched.setCookie)).toMatchObject({ value: browser.id, maxAge: 600 });
    });
  });

  describe('store failures', () => {
    function broken(failing: 'get' | 'write') {
      const inner = memory();
      return new (class extends SessionStore {
        get = (key: string) => (failing === 'get' ? Promise.reject(new Error('ECONNREFUSED')) : inner.get(key));
        write = (key: string, change: SessionWrite) =>
          failing === 'write' ? Promise.reject(new Error('ECONNREFUSED')) : inner.write(key, change);
        touch = (key: string, ttl: number) => inner.touch(key, ttl);
        destroy = (key: string) => inner.destroy(key);
      })();
    }

    it('a failed load rejects with SessionStoreUnavailableException and logs without the id', async () => {
      const env = setup({}, broken('get'));
      const id = generateSessionId();
      const session = env.open(id);
      await expect(session.get('a')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      expect(env.logger.error).toHaveBeenCalledTimes(1);
      for (const call of [...env.logger.error.mock.calls, ...env.logger.debug.mock.calls]) {
        expect(JSON.stringify(call)).not.toContain(id);
      }
    });

    it('a failed write rejects the commit and leaves the cookie as it was', async () => {
      const env = setup({}, broken('write'));
      const session = env.open(undefined);
      await session.set('a', 1);
      await expect(session.finalize(200)).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      expect(session.isSettled).toBe(true);
      expect(session.setCookieHeaders()).toEqual([]);
    });
  });
  describe('with the sealed cookie (CookieStore)', () => {
    const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';

    /** A handle factory on the sealed-cookie persistence; the cookie value is decoded as the manager does. */
    function sealedSetup(options: SessionModuleOptions = {}) {
      const resolved = resolveSessionOptions(options);
      const cookies = new SessionCookieWriter(resolved);
      const logger = stubLogger();
      const persistence = createSessionPersistence(new CookieStore({ secret: SECRET }), resolved, cookies, logger as unknown as Logger);
      const deps: SessionHandleDeps = { persistence, options: resolved, logger: logger as unknown as Logger, cookies };
      let cookie: string | undefined;
      const request = async (work: (session: SessionHandle) => Promise<unknown> | void = () => undefined) => {
        const incoming = cookie === undefined ? undefined : persistence.decode(cookie, Date.now());
        const session = new SessionHandle(deps, incoming, () => false);
        await work(session);
        await session.finalize(200);
        const setCookie = session.setCookieHeaders();
        for (const header of setCookie) {
          const parsed = parseSetCookie(header);
          cookie = parsed.maxAge === 0 ? undefined : parsed.value;
        }
        return { session, setCookie };
      };
      return { request, cookie: () => cookie };
    }

    it('sends no cookie before there is data, then carries the data in the cookie itself', async () => {
      const env = sealedSetup();
      expect((await env.request()).setCookie).toEqual([]);
      const written = await env.request((s) => s.set('user', 'ada'));
      expect(written.setCookie).toHaveLength(1);
      expect(env.cookie()).toMatch(/^[A-Za-z0-9_-]{8}\./);
      let seen: unknown;
      const read = await env.request(async (s) => {
        seen = await s.get('user');
      });
      expect(seen).toBe('ada');
      expect(read.session.isNew).toBe(false);
      expect(read.session.id).toBe(written.session.id);
    });

    it('refuses a value that would take the cookie over 4096 bytes and keeps the session as it was', async () => {
      const env = sealedSetup();
      await env.request(async (s) => {
        await s.set('small', 'x');
        await expect(s.set('big', 'y'.repeat(5000))).rejects.toBeInstanceOf(SessionTooLargeError);
        await expect(s.flash('big', 'y'.repeat(5000))).rejects.toBeInstanceOf(SessionTooLargeError);
        expect(await s.all()).toEqual({ small: 'x' });
      });
      let all: unknown;
      await env.request(async (s) => {
        all = await s.all();
      });
      expect(all).toEqual({ small: 'x' });
    });

    it('destroy expires the cookie, and regenerate re-seals the data under a new id', async () => {
      const env = sealedSetup();
      const first = await env.request((s) => s.set('a', 1));
      const regenerated = await env.request((s) => s.regenerate());
      expect(regenerated.session.id).not.toBe(first.session.id);
      expect(regenerated.setCookie).toHaveLength(1);
      let a: unknown;
      await env.request(async (s) => {
        a = await s.get('a');
      });
      expect(a).toBe(1);
      const destroyed = await env.request((s) => s.destroy());
      expect(parseSetCookie(destroyed.setCookie[0]).maxAge).toBe(0);
      expect(env.cookie()).toBeUndefined();
    });
  });
});
