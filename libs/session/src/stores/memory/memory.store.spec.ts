import { Logger } from '@nestjs/common';
import { MemoryStore } from './memory.store.js';
import type { SessionWrite } from '../session.store.js';

const MINUTE = 60_000;

function create(set: Record<string, unknown>, ttl = 10 * MINUTE, createdAt = Date.now()): SessionWrite {
  return { mode: 'create', set: new Map(Object.entries(set)), delete: [], clear: false, createdAt, ttl };
}

function update(change: { set?: Record<string, unknown>; delete?: string[]; clear?: boolean }, ttl = 10 * MINUTE): SessionWrite {
  return {
    mode: 'update',
    set: new Map(Object.entries(change.set ?? {})),
    delete: change.delete ?? [],
    clear: change.clear ?? false,
    // Updates keep the stored creation time; this one must be ignored.
    createdAt: 0,
    ttl,
  };
}

async function dataOf(store: MemoryStore, key: string): Promise<Record<string, unknown> | undefined> {
  const record = await store.get(key);
  return record === undefined ? undefined : Object.fromEntries(record.data);
}

describe('MemoryStore', () => {
  let store: MemoryStore;
  let warn: ReturnType<typeof vi.spyOn>;

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    store = new MemoryStore();
  });

  afterEach(() => {
    store.onApplicationShutdown();
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  describe('write, get, touch, destroy', () => {
    it('get of an unknown key is undefined', async () => {
      expect(await store.get('nope')).toBeUndefined();
    });

    it('create stores exactly the given values with createdAt and an expiry of now + ttl', async () => {
      const createdAt = Date.now() - 1000;
      expect(await store.write('k', create({ a: 1, b: { c: [true, null] } }, 5 * MINUTE, createdAt))).toBe(true);
      const record = await store.get('k');
      expect(record).toBeDefined();
      expect(Object.fromEntries(record!.data)).toEqual({ a: 1, b: { c: [true, null] } });
      expect(record!.createdAt).toBe(createdAt);
      expect(record!.expiresAt).toBe(Date.now() + 5 * MINUTE);
      expect(store.size).toBe(1);
    });

    it('update sets, deletes, keeps other keys and createdAt, and slides the expiry', async () => {
      const createdAt = Date.now();
      await store.write('k', create({ a: 1, b: 2, c: 3 }, MINUTE, createdAt));
      await vi.advanceTimersByTimeAsync(30_000);
      expect(await store.write('k', update({ set: { a: 10, d: 4 }, delete: ['b'] }, MINUTE))).toBe(true);
      const record = await store.get('k');
      expect(Object.fromEntries(record!.data)).toEqual({ a: 10, c: 3, d: 4 });
      expect(record!.createdAt).toBe(createdAt);
      expect(record!.expiresAt).toBe(Date.now() + MINUTE);
    });

    it('applies clear, then delete, then set in one update', async () => {
      await store.write('k', create({ a: 1, b: 2, c: 3 }));
      await store.write('k', update({ clear: true, delete: ['x'], set: { c: 30, e: 5 } }));
      expect(await dataOf(store, 'k')).toEqual({ c: 30, e: 5 });
    });

    it('delete of a key that the same update also sets ends with the value set', async () => {
      await store.write('k', create({ a: 1 }));
      await store.write('k', update({ delete: ['a'], set: { a: 2 } }));
      expect(await dataOf(store, 'k')).toEqual({ a: 2 });
    });

    it('update of a missing key returns false and writes nothing', async () => {
      expect(await store.write('missing', update({ set: { a: 1 } }))).toBe(false);
      expect(await store.get('missing')).toBeUndefined();
      expect(store.size).toBe(0);
    });

    it('update of a destroyed key returns false and does not resurrect it', async () => {
      await store.write('k', create({ a: 1 }));
      await store.destroy('k');
      expect(await store.write('k', update({ set: { b: 2 } }))).toBe(false);
      expect(await store.get('k')).toBeUndefined();
      expect(store.size).toBe(0);
    });

    it('update of an expired key returns false and does not resurrect it', async () => {
      await store.write('k', create({ a: 1 }, MINUTE));
      await vi.advanceTimersByTimeAsync(MINUTE);
      expect(await store.write('k', update({ set: { b: 2 } }))).toBe(false);
      expect(await store.get('k')).toBeUndefined();
    });

    it('touch extends a live session without changing its data', async () => {
      await store.write('k', create({ a: 1 }, MINUTE));
      await vi.advanceTimersByTimeAsync(50_000);
      expect(await store.touch('k', MINUTE)).toBe(true);
      expect((await store.get('k'))!.expiresAt).toBe(Date.now() + MINUTE);
      await vi.advanceTimersByTimeAsync(50_000);
      // 100 s after creation with a 60 s ttl: alive only because of the touch.
      expect(await dataOf(store, 'k')).toEqual({ a: 1 });
    });

    it('touch of a missing or expired key returns false and creates nothing', async () => {
      expect(await store.touch('missing', MINUTE)).toBe(false);
      await store.write('k', create({ a: 1 }, MINUTE));
      await vi.advanceTimersByTimeAsync(MINUTE + 1);
      expect(await store.touch('k', MINUTE)).toBe(false);
      expect(await store.get('k')).toBeUndefined();
      expect(store.size).toBe(0);
    });

    it('destroy removes the record; destroying a missing key is not an error', async () => {
      await store.write('k', create({ a: 1 }));
      await store.write('other', create({ b: 2 }));
      await expect(store.destroy('k')).resolves.toBe(true);
      expect(await store.get('k')).toBeUndefined();
      expect(await dataOf(store, 'other')).toEqual({ b: 2 });
      // Nothing left to remove: not an error, and the answer says so (regenerate relies on it).
      await expect(store.destroy('k')).resolves.toBe(false);
      await expect(store.destroy('never')).resolves.toBe(false);
    });

    it('keeps sessions apart by key', async () => {
      await store.write('a', create({ who: 'a' }));
      await store.write('b', create({ who: 'b' }));
      await store.write('a', update({ set: { extra: 1 } }));
      expect(await dataOf(store, 'a')).toEqual({ who: 'a', extra: 1 });
      expect(await dataOf(store, 'b')).toEqual({ who: 'b' });
    });
  });

  describe('copies in and out', () => {
    it('mutating the written Map or its objects after the write does not affect the store', async () => {
      const cart = { items: ['apple'] };
      const set = new Map<string, unknown>([['cart', cart]]);
      await store.write('k', { ...create({}), set });
      cart.items.push('pear');
      set.set('cart', 'replaced');
      set.set('extra', 1);
      expect(await dataOf(store, 'k')).toEqual({ cart: { items: ['apple'] } });
    });

    it('mutating returned data does not affect the store or later reads', async () => {
      await store.write('k', create({ cart: { items: ['apple'] } }));
      const first = await store.get('k');
      (first!.data.get('cart') as { items: string[] }).items.push('pear');
      first!.data.set('evil', true);
      first!.data.delete('cart');
      const second = await store.get('k');
      expect(Object.fromEntries(second!.data)).toEqual({ cart: { items: ['apple'] } });
      expect(second!.data).not.toBe(first!.data);
    });

    it('two reads never share objects', async () => {
      await store.write('k', create({ obj: { n: 1 } }));
      const a = (await store.get('k'))!.data.get('obj');
      const b = (await store.get('k'))!.data.get('obj');
      expect(a).toEqual(b);
      expect(a).not.toBe(b);
    });

    it('reads back a "__proto__" value as plain own data without polluting', async () => {
      const payload = JSON.parse('{"__proto__":{"polluted":true}}') as object;
      await store.write('k', { ...create({}), set: new Map([['__proto__', payload]]) });
      await store.write('k2', create({ v: payload }));
      const record = await store.get('k');
      expect(record!.data.has('__proto__')).toBe(true);
      const value = (await store.get('k2'))!.data.get('v') as object;
      expect(Object.prototype.hasOwnProperty.call(value, '__proto__')).toBe(true);
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    });
  });

  describe('idle expiry', () => {
    it('get returns the session just before its ttl and undefined once it has passed', async () => {
      await store.write('k', create({ a: 1 }, MINUTE));
      await vi.advanceTimersByTimeAsync(MINUTE - 1);
      expect(await dataOf(store, 'k')).toEqual({ a: 1 });
      await vi.advanceTimersByTimeAsync(1);
      expect(await store.get('k')).toBeUndefined();
    });

    it('an expired session found by get is removed at once', async () => {
      await store.write('k', create({ a: 1 }, 1000));
      await vi.advanceTimersByTimeAsync(1000);
      expect(store.size).toBe(1); // the sweep (60 s) has not run yet
      expect(await store.get('k')).toBeUndefined();
      expect(store.size).toBe(0);
    });

    it('a create after expiry starts afresh', async () => {
      await store.write('k', create({ a: 1 }, 1000));
      await vi.advanceTimersByTimeAsync(2000);
      await store.write('k', create({ b: 2 }, 1000));
      expect(await dataOf(store, 'k')).toEqual({ b: 2 });
    });
  });

  describe('sweep', () => {
    it('removes expired entries on its own once sweepInterval has passed, and keeps live ones', async () => {
      store = new MemoryStore({ sweepInterval: 30 });
      await store.write('short', create({ a: 1 }, 10_000));
      await store.write('long', create({ b: 2 }, 10 * MINUTE));
      await vi.advanceTimersByTimeAsync(29_000);
      expect(store.size).toBe(2);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(store.size).toBe(1);
      expect(await dataOf(store, 'long')).toEqual({ b: 2 });
    });

    it('runs again on every sweep() after a pass that ended within its first slice', async () => {
      await store.write('a', create({ a: 1 }, 1000));
      await store.write('b', create({ b: 1 }, 5000));
      await vi.advanceTimersByTimeAsync(1000);
      await store.sweep();
      expect(store.size).toBe(1);
      await vi.advanceTimersByTimeAsync(4000);
      await store.sweep();
      expect(store.size).toBe(0);
    });

    it('keeps sweeping on every interval', async () => {
      store = new MemoryStore({ sweepInterval: 10 });
      for (let round = 0; round < 3; round++) {
        await store.write(`k${round}`, create({ round }, 1000));
        expect(store.size).toBe(1);
        await vi.advanceTimersByTimeAsync(10_000);
        expect(store.size).toBe(0);
      }
    });

    it('sweeps a large store in slices, yielding to the event loop, and completes', async () => {
      vi.useRealTimers();
      store = new MemoryStore({ maxEntries: 50_000 });
      const total = 25_000;
      const now = Date.now();
      for (let i = 0; i < total; i++) await store.write(`k${i}`, create({ i }, i % 5 === 0 ? 10 * MINUTE : 1, now));
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(store.size).toBe(total);

      const pass = store.sweep();
      // The first slice ran synchronously; a single pass over 25,000 entries would be done already.
      const afterFirstSlice = store.size;
      expect(afterFirstSlice).toBeLessThan(total);
      expect(afterFirstSlice).toBeGreaterThan(total / 5);
      await pass;
      expect(store.size).toBe(total / 5);
      expect(await dataOf(store, 'k0')).toEqual({ i: 0 });
      expect(await store.get('k1')).toBeUndefined();
    });

    it('sweeps 25,000 expired entries with fake timers once the interval fires', async () => {
      store = new MemoryStore({ sweepInterval: 60 });
      for (let i = 0; i < 25_000; i++) await store.write(`k${i}`, create({ i }, 1000));
      expect(store.size).toBe(25_000);
      await vi.advanceTimersByTimeAsync(60_000);
      // The interval has fired; the remaining slices run as immediates, one after another.
      expect(store.size).toBeLessThan(25_000);
      await vi.advanceTimersByTimeAsync(10);
      expect(store.size).toBe(0);
    });

    it('a second sweep() while one is running joins it instead of starting another pass', async () => {
      vi.useRealTimers();
      store = new MemoryStore();
      for (let i = 0; i < 25_000; i++) await store.write(`k${i}`, create({ i }, 1, Date.now()));
      await new Promise((resolve) => setTimeout(resolve, 5));
      const first = store.sweep();
      const sizeAfterFirst = store.size;
      const second = store.sweep();
      // Had the second call started its own pass, its first slice would have removed more now.
      expect(store.size).toBe(sizeAfterFirst);
      // The second call joins the running pass: it resolves when that pass is done.
      await second;
      expect(store.size).toBe(0);
      await first;
    });
  });

  describe('maxEntries', () => {
    it('evicts the least recently active session when full; writes and touches count as activity', async () => {
      store = new MemoryStore({ maxEntries: 3 });
      await store.write('a', create({ n: 'a' }));
      await store.write('b', create({ n: 'b' }));
      await store.write('c', create({ n: 'c' }));
      await store.touch('a', 10 * MINUTE); // order by activity: b, c, a
      await store.write('c', update({ set: { m: 1 } })); // b, a, c
      await store.write('d', create({ n: 'd' })); // evicts b
      expect(store.size).toBe(3);
      expect(await store.get('b')).toBeUndefined();
      expect(await dataOf(store, 'a')).toEqual({ n: 'a' });
      expect(await dataOf(store, 'c')).toEqual({ n: 'c', m: 1 });
      expect(await dataOf(store, 'd')).toEqual({ n: 'd' });

      await store.write('e', create({ n: 'e' })); // a, c, d -> evicts a
      expect(await store.get('a')).toBeUndefined();
      expect(store.size).toBe(3);
    });

    it('an update or touch of a held session never evicts another one', async () => {
      store = new MemoryStore({ maxEntries: 2 });
      await store.write('a', create({ n: 'a' }));
      await store.write('b', create({ n: 'b' }));
      await store.write('a', update({ set: { x: 1 } }));
      await store.touch('b', MINUTE);
      expect(store.size).toBe(2);
      expect(await dataOf(store, 'a')).toEqual({ n: 'a', x: 1 });
      expect(await dataOf(store, 'b')).toEqual({ n: 'b' });
      expect(warn).not.toHaveBeenCalled();
    });

    it('logs one warning however many sessions it evicts', async () => {
      store = new MemoryStore({ maxEntries: 2 });
      for (let i = 0; i < 10; i++) await store.write(`k${i}`, create({ i }));
      expect(store.size).toBe(2);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/full \(2 sessions\).*maxEntries/);
    });

    it('does not warn before the cap is reached', async () => {
      store = new MemoryStore({ maxEntries: 3 });
      for (let i = 0; i < 3; i++) await store.write(`k${i}`, create({ i }));
      expect(warn).not.toHaveBeenCalled();
    });
  });

  describe('fair eviction: sessions seen on one request go first', () => {
    /** `count` sessions created and never read again, as cookieless clients leave them. */
    async function flood(count: number, prefix = 'flood'): Promise<void> {
      for (let i = 0; i < count; i++) await store.write(`${prefix}${i}`, create({ i }));
    }

    it('a session read on a later request survives a flood of new sessions many times the cap', async () => {
      store = new MemoryStore({ maxEntries: 10 });
      await store.write('returning', create({ user: 'ada' }));
      await store.write('once', create({ user: 'bob' }));
      expect(await dataOf(store, 'returning')).toEqual({ user: 'ada' }); // came back: protected
      await flood(100);
      expect(store.size).toBe(10);
      expect(await dataOf(store, 'returning')).toEqual({ user: 'ada' });
      expect(await store.get('once')).toBeUndefined();
      // The flood evicted its own kind, oldest first: the last nine are held.
      expect(await store.get('flood91')).toBeDefined();
      expect(await store.get('flood90')).toBeUndefined();
    });

    it('a write or touch without a read (save() and the commit of one request) does not count as coming back', async () => {
      store = new MemoryStore({ maxEntries: 4 });
      await store.write('a', create({ n: 1 }));
      await store.write('a', update({ set: { m: 2 } }));
      await store.touch('a', MINUTE);
      await flood(4);
      expect(await store.get('a')).toBeUndefined();
    });

    it('sessions that came back fill at most 80% of the cap; the least recently read go back to probation first', async () => {
      store = new MemoryStore({ maxEntries: 5 }); // protected: at most 4
      for (const key of ['a', 'b', 'c', 'd', 'e']) await store.write(key, create({ key }));
      for (const key of ['a', 'b', 'c', 'd']) await store.get(key); // protected: a, b, c, d
      await store.get('a'); // a read is a use: protected b, c, d, a
      await store.get('e'); // protected overflows: b, least recently read, goes back to probation
      await store.write('f', create({ key: 'f' })); // full: evicts probation's least recently used, b
      expect(await store.get('b')).toBeUndefined();
      for (const key of ['a', 'c', 'd', 'e', 'f']) expect(await dataOf(store, key)).toEqual({ key });
    });

    it('a session sent back to probation is protected again when it is read before it is evicted', async () => {
      store = new MemoryStore({ maxEntries: 3 }); // protected: at most 2
      for (const key of ['a', 'b', 'c']) await store.write(key, create({ key }));
      for (const key of ['a', 'b', 'c']) await store.get(key); // a goes back to probation
      await store.get('a'); // protected again; b goes back instead
      await flood(2);
      expect(await store.get('b')).toBeUndefined();
      expect(await dataOf(store, 'a')).toEqual({ key: 'a' });
      expect(await dataOf(store, 'c')).toEqual({ key: 'c' });
    });

    it('with probation empty, the least recently used protected session is evicted', async () => {
      store = new MemoryStore({ maxEntries: 2 });
      await store.write('a', create({ key: 'a' }));
      await store.write('b', create({ key: 'b' }));
      await store.get('a'); // protected: a (the share is 1 of 2)
      await store.write('c', create({ key: 'c' })); // evicts b, on probation
      expect(await store.get('b')).toBeUndefined();
      await store.get('c'); // c protected, a back to probation
      await store.write('d', create({ key: 'd' })); // evicts a
      expect(await store.get('a')).toBeUndefined();
      expect(await dataOf(store, 'c')).toEqual({ key: 'c' });
      expect(await dataOf(store, 'd')).toEqual({ key: 'd' });
    });

    it('a destroyed or expired protected session leaves its place to others', async () => {
      store = new MemoryStore({ maxEntries: 3 });
      await store.write('a', create({ key: 'a' }, MINUTE));
      await store.write('b', create({ key: 'b' }));
      await store.get('a');
      await store.get('b');
      await store.destroy('b');
      vi.advanceTimersByTime(MINUTE);
      expect(await store.get('a')).toBeUndefined();
      expect(store.size).toBe(0);
      expect(store.bytes).toBe(0);
      await flood(3);
      expect(store.size).toBe(3);
      expect(warn).not.toHaveBeenCalled();
    });
  });

  describe('maxBytes', () => {
    /** UTF-8 bytes of the JSON text the store keeps for `data`: what the byte cap counts. */
    const sizeOf = (data: Record<string, unknown>): number => Buffer.byteLength(JSON.stringify(data));

    it("reports each session's size with what get returns, in UTF-8 bytes", async () => {
      const data = { name: 'Zoë', city: '東京', emoji: '🙂' };
      await store.write('a', create(data));
      expect(sizeOf(data)).toBeGreaterThan(JSON.stringify(data).length);
      expect((await store.get('a'))?.jsonBytes).toBe(sizeOf(data));
      expect(store.bytes).toBe(sizeOf(data));
      await store.write('a', update({ set: { more: 'ü' } }));
      expect((await store.get('a'))?.jsonBytes).toBe(sizeOf({ ...data, more: 'ü' }));
    });

    it('counts the JSON text of every session, through creates, updates, destroys and expiry', async () => {
      await store.write('a', create({ v: 'x'.repeat(10) }, MINUTE));
      await store.write('b', create({ v: 1 }));
      expect(store.bytes).toBe(sizeOf({ v: 'x'.repeat(10) }) + sizeOf({ v: 1 }));
      await store.write('b', update({ set: { w: 'long'.repeat(5) } }));
      expect(store.bytes).toBe(sizeOf({ v: 'x'.repeat(10) }) + sizeOf({ v: 1, w: 'long'.repeat(5) }));
      await store.get('b');
      await store.write('b', update({ clear: true }));
      expect(store.bytes).toBe(sizeOf({ v: 'x'.repeat(10) }) + 2);
      await store.destroy('b');
      expect(store.bytes).toBe(sizeOf({ v: 'x'.repeat(10) }));
      vi.advanceTimersByTime(MINUTE);
      await store.sweep();
      expect(store.bytes).toBe(0);
    });

    it('evicts sessions until the data fits, one-request sessions first', async () => {
      const record = { v: 'x'.repeat(92) }; // 100 characters of JSON
      expect(sizeOf(record)).toBe(100);
      store = new MemoryStore({ maxBytes: 1000 });
      await store.write('returning', create(record));
      await store.get('returning');
      for (let i = 0; i < 50; i++) {
        await store.write(`flood${i}`, create(record));
        expect(store.bytes).toBeLessThanOrEqual(1000);
      }
      expect(store.size).toBe(10);
      // The returning session and the last nine of the flood.
      expect(await store.get('returning')).toBeDefined();
      expect(await store.get('flood41')).toBeDefined();
      expect(await store.get('flood40')).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/full \(1000 bytes of session data\).*maxBytes/);
    });

    it('an update that grows a session evicts others, never the session written', async () => {
      store = new MemoryStore({ maxBytes: 300 });
      await store.write('a', create({ v: 'a' }));
      await store.write('b', create({ v: 'b' }));
      await store.write('c', create({ v: 'c' }));
      await store.write('a', update({ set: { v: 'x'.repeat(280) } })); // 288 + 9 + 9: over by 6
      expect(await dataOf(store, 'a')).toEqual({ v: 'x'.repeat(280) });
      expect(await store.get('b')).toBeUndefined();
      expect(await dataOf(store, 'c')).toEqual({ v: 'c' });
      expect(store.bytes).toBeLessThanOrEqual(300);
    });

    it('keeps one session larger than the cap, alone', async () => {
      store = new MemoryStore({ maxBytes: 100 });
      await store.write('small', create({ v: 1 }));
      await store.write('big', create({ v: 'x'.repeat(200) }));
      expect(store.size).toBe(1);
      expect(await dataOf(store, 'big')).toEqual({ v: 'x'.repeat(200) });
    });

    it('sessions that came back keep at most 80% of the bytes; the least recently read go back to probation', async () => {
      store = new MemoryStore({ maxBytes: 500 }); // protected: at most 400
      const record = (key: string) => ({ key, v: 'x'.repeat(100 - sizeOf({ key, v: '' })) });
      for (const key of ['a', 'b', 'c', 'd', 'e']) await store.write(key, create(record(key)));
      expect(store.bytes).toBe(500);
      for (const key of ['a', 'b', 'c', 'd', 'e']) await store.get(key); // a goes back to probation
      await store.write('f', create(record('f'))); // evicts a
      expect(await store.get('a')).toBeUndefined();
      for (const key of ['b', 'c', 'd', 'e', 'f']) expect(await dataOf(store, key)).toEqual(record(key));
    });
  });

  describe('lifecycle', () => {
    it('starts no timer until the first write, then exactly one, whatever the number of sessions', async () => {
      expect(vi.getTimerCount()).toBe(0);
      await store.write('a', create({ a: 1 }));
      expect(vi.getTimerCount()).toBe(1);
      for (let i = 0; i < 50; i++) await store.write(`k${i}`, create({ i }));
      await store.touch('a', MINUTE);
      expect(vi.getTimerCount()).toBe(1);
    });

    it('does not keep the process alive: the sweep timer is unref()ed', async () => {
      vi.useRealTimers();
      const unref = vi.spyOn(globalThis, 'setInterval');
      store = new MemoryStore();
      await store.write('a', create({ a: 1 }));
      const timer = unref.mock.results[0].value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
    });

    it('onApplicationShutdown clears the timer and the data', async () => {
      await store.write('a', create({ a: 1 }));
      await store.write('b', create({ b: 1 }));
      expect(vi.getTimerCount()).toBe(1);
      store.onApplicationShutdown();
      expect(vi.getTimerCount()).toBe(0);
      expect(store.size).toBe(0);
      expect(await store.get('a')).toBeUndefined();
    });

    it('onApplicationShutdown is safe to call twice and before any write', () => {
      const fresh = new MemoryStore();
      expect(() => fresh.onApplicationShutdown()).not.toThrow();
      expect(() => fresh.onApplicationShutdown()).not.toThrow();
      expect(vi.getTimerCount()).toBe(0);
    });

    it('a write after shutdown starts afresh with a new sweep timer', async () => {
      await store.write('a', create({ a: 1 }, 1000));
      store.onApplicationShutdown();
      await store.write('b', create({ b: 1 }, 1000));
      expect(vi.getTimerCount()).toBe(1);
      expect(await store.get('a')).toBeUndefined();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(store.size).toBe(0);
    });
  });

  describe('options', () => {
    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number])('refuses maxEntries %s', (maxEntries) => {
      expect(() => new MemoryStore({ maxEntries })).toThrow(/MemoryStore maxEntries must be a positive integer/);
    });

    it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY, '60' as unknown as number])('refuses sweepInterval %s', (sweepInterval) => {
      expect(() => new MemoryStore({ sweepInterval })).toThrow(/MemoryStore sweepInterval must be a positive number of seconds/);
    });

    it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1024' as unknown as number])('refuses maxBytes %s', (maxBytes) => {
      expect(() => new MemoryStore({ maxBytes })).toThrow(/MemoryStore maxBytes must be a positive integer \(bytes of session JSON\)/);
    });

    it('accepts valid limits', () => {
      expect(() => new MemoryStore({ maxEntries: 1, maxBytes: 1, sweepInterval: 0.5 })).not.toThrow();
    });
  });
});

describe('MemoryStore destroy marks', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  const marksOf = (store: MemoryStore): Map<string, unknown> => (store as unknown as { marks: Map<string, unknown> }).marks;

  it('keeps at most maxEntries marks, dropping the oldest first, and never counts them as sessions', async () => {
    const store = new MemoryStore({ maxEntries: 3 });
    const issued = Date.now();
    vi.advanceTimersByTime(1_000);
    for (const key of ['k1', 'k2', 'k3', 'k4']) expect(await store.destroy(key, 10 * MINUTE)).toBe(false);
    expect(marksOf(store).size).toBe(3);
    expect(store.size).toBe(0);
    for (const key of ['k2', 'k3', 'k4']) expect(await store.adopt(key, create({ a: 1 }, 10 * MINUTE, issued))).toBe(false);
    // The oldest mark went, but its key is still not adopted: an id issued before the dropped
    // mark was set may be the one it kept out, so no id that old starts a record.
    expect(await store.adopt('k1', create({ a: 1 }, 10 * MINUTE, issued))).toBe(false);
    expect(await store.adopt('other', create({ a: 1 }, 10 * MINUTE, issued))).toBe(false);
    expect(store.size).toBe(0);
    // Ids issued after it are adopted as ever.
    vi.advanceTimersByTime(1_000);
    expect(await store.adopt('k1', create({ a: 1 }, 10 * MINUTE, Date.now()))).toBe(true);
    store.onApplicationShutdown();
  });

  it('a mark runs out at its time; the sweep drops run-out marks', async () => {
    const store = new MemoryStore({ sweepInterval: 1 });
    await store.destroy('gone', 5_000);
    await store.destroy('kept', 60_000);
    vi.advanceTimersByTime(4_000);
    expect(await store.adopt('gone', create({ a: 1 }))).toBe(false);
    vi.advanceTimersByTime(2_000);
    await store.sweep();
    expect([...marksOf(store).keys()]).toEqual(['kept']);
    expect(await store.adopt('gone', create({ a: 1 }))).toBe(true);
    store.onApplicationShutdown();
    expect(marksOf(store).size).toBe(0);
  });
});
