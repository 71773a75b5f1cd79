import type { Logger } from '@nestjs/common';
import { parseSetCookie } from 'cookie';
import { SessionCookieWriter } from '../cookie/session-cookie.js';
import { sessionStoreKey } from '../cookie/session-id.js';
import { createSessionPersistence } from '../persistence/session-persistence.factory.js';
import {
  SessionStoreUnavailableException,
  SessionUpdateConflictException,
  SessionUpdateUnsupportedError,
  SessionValueError,
} from '../session.exceptions.js';
import type { SessionModuleOptions } from '../session-options.interface.js';
import { resolveSessionOptions } from '../session-options.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import { MemoryStore } from '../stores/memory/memory.store.js';
import { type CompareAndSetResult, SessionStore, type SessionWrite, type StoredSession } from '../stores/session.store.js';
import { DEFAULT_UPDATE_ATTEMPTS, updatePauseMs } from './session-update.js';
import { SessionHandle } from './session.handle.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';

function stubLogger() {
  return { debug: vi.fn(), log: vi.fn(), warn: vi.fn(), error: vi.fn(), verbose: vi.fn(), fatal: vi.fn() };
}

/** A MemoryStore that counts compare-and-set calls and their outcomes. */
class CountingMemoryStore extends MemoryStore {
  readonly outcomes: CompareAndSetResult['outcome'][] = [];

  override async compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    const result = await super.compareAndSet(key, field, expected, next, ttl);
    this.outcomes.push(result.outcome);
    return result;
  }
}

/**
 * A MemoryStore on a key that another writer changes just before every compare-and-set of
 * ours: the hottest key there can be. Each of our attempts is refused, as the real store
 * refuses it.
 */
class AlwaysOvertakenStore extends CountingMemoryStore {
  override async compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number): Promise<CompareAndSetResult> {
    const now = await this.get(key);
    const current = now?.data.get(field);
    await MemoryStore.prototype.compareAndSet.call(this, key, field, current, (typeof current === 'number' ? current : 0) + 1000, ttl);
    return super.compareAndSet(key, field, expected, next, ttl);
  }
}

/** A MemoryStore whose compare-and-set never answers (connection open, nothing coming back). */
class StalledUpdateStore extends MemoryStore {
  override compareAndSet(): Promise<CompareAndSetResult> {
    return new Promise(() => undefined);
  }
}

/** A store written before `compareAndSet` existed: everything but the atomic update. */
class PlainStore extends SessionStore {
  private readonly inner = new MemoryStore();
  get(key: string): Promise<StoredSession | undefined> {
    return this.inner.get(key);
  }
  write(key: string, change: SessionWrite): Promise<boolean> {
    return this.inner.write(key, change);
  }
  touch(key: string, ttl: number): Promise<boolean> {
    return this.inner.touch(key, ttl);
  }
  destroy(key: string): Promise<boolean> {
    return this.inner.destroy(key);
  }
}

function setup<S extends SessionStore>(store: S, options: SessionModuleOptions = {}) {
  const logger = stubLogger() as unknown as Logger;
  const resolved = resolveSessionOptions(options);
  const cookies = new SessionCookieWriter(resolved);
  const deps = { persistence: createSessionPersistence(store, resolved, cookies, logger), options: resolved, logger, cookies };
  const open = (id?: string): SessionHandle => new SessionHandle(deps, id === undefined ? undefined : { id, stale: false }, () => false);
  /** A handle for a request carrying `cookie` (as the manager decodes it). */
  const openWithCookie = (cookie: string): SessionHandle =>
    new SessionHandle(deps, deps.persistence.decode(cookie, Date.now()), () => false);
  /** A committed session holding `data`; resolves with its id. */
  const start = async (data: Record<string, unknown>): Promise<string> => {
    const handle = open();
    for (const [key, value] of Object.entries(data)) await handle.set(key, value);
    await handle.finalize(200);
    return handle.id;
  };
  const stored = async (id: string): Promise<Record<string, unknown> | undefined> => {
    const record = await store.get(sessionStoreKey(id));
    return record === undefined ? undefined : Object.fromEntries(record.data);
  };
  return { store, open, openWithCookie, start, stored };
}

const shutdown: MemoryStore[] = [];
afterEach(() => {
  for (const store of shutdown.splice(0)) store.onApplicationShutdown();
});
function counting<S extends MemoryStore>(store: S): S {
  shutdown.push(store);
  return store;
}

describe('session.update on a store record', () => {
  it('writes at once, before the commit, and a 5xx response does not undo it (the staged set of another key is dropped)', async () => {
    const env = setup(counting(new CountingMemoryStore()));
    const id = await env.start({ counter: 1 });
    const handle = env.open(id);
    await handle.set('note', 'staged');
    expect(await handle.update<number>('counter', (n) => (n ?? 0) + 10)).toBe(11);
    expect(await env.stored(id)).toEqual({ counter: 11 });
    expect(await handle.get('counter')).toBe(11);
    await handle.finalize(500);
    expect(await env.stored(id)).toEqual({ counter: 11 });
  });

  it('runs fn again on the newer value when another request changed the key in between', async () => {
    const env = setup(counting(new CountingMemoryStore()));
    const id = await env.start({ counter: 1 });
    const slow = env.open(id);
    await slow.load(); // has seen counter = 1
    const fast = env.open(id);
    await fast.increment('counter', 5);
    await fast.finalize(200);
    const seen: unknown[] = [];
    const value = await slow.update<number>('counter', (n) => {
      seen.push(n);
      return (n ?? 0) * 2;
    });
    expect(seen).toEqual([1, 6]);
    expect(value).toBe(12);
    expect(env.store.outcomes.slice(-2)).toEqual(['changed', 'applied']);
    expect(await env.stored(id)).toEqual({ counter: 12 });
  });

  it('100 concurrent increments of one key from 100 requests: exactly +100', async () => {
    const env = setup(counting(new CountingMemoryStore()));
    const id = await env.start({ counter: 0 });
    const requests = Array.from({ length: 100 }, () => env.open(id));
    await Promise.all(requests.map((handle) => handle.load()));
    const started = performance.now();
    const results = await Promise.all(requests.map((handle) => handle.increment('counter')));
    await Promise.all(requests.map((handle) => handle.finalize(200)));
    const refused = env.store.outcomes.filter((outcome) => outcome === 'changed').length;
    console.log(`MemoryStore, 100 concurrent increments: ${refused} refused attempts, ${(performance.now() - started).toFixed(0)} ms`);
    expect(await env.stored(id)).toEqual({ counter: 100 });
    // Every request got a distinct value: each update saw all the ones before it.
    expect(new Set(results).size).toBe(100);
    expect(env.store.outcomes.filter((outcome) => outcome === 'applied')).toHaveLength(100);
    // Updates of one field on one node take turns: each is refused at most once (its first
    // attempt, made with the value its request had loaded).
    expect(refused).toBeLessThanOrEqual(100);
  });

  it('gives up after maxAttempts refused attempts with a 503 SessionUpdateConflictException, writing nothing of its own', async () => {
    const env = setup(counting(new AlwaysOvertakenStore()));
    const id = await env.start({ counter: 0 });
    const handle = env.open(id);
    const fn = vi.fn((n: number | undefined) => (n ?? 0) + 1);
    const failure = await handle.update('counter', fn, { maxAttempts: 4 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SessionUpdateConflictException);
    expect((failure as SessionUpdateConflictException).getStatus()).toBe(503);
    expect((failure as SessionUpdateConflictException).attempts).toBe(4);
    expect(fn).toHaveBeenCalledTimes(4);
    expect(env.store.outcomes).toEqual(['changed', 'changed', 'changed', 'changed']);
    // Only the other writer's changes (+1000 each) are in the store, none of ours (+1).
    expect(await env.stored(id)).toEqual({ counter: 4000 });
  });

  it(`the default bound is ${DEFAULT_UPDATE_ATTEMPTS} attempts`, async () => {
    const env = setup(counting(new AlwaysOvertakenStore()));
    const id = await env.start({ counter: 0 });
    const failure = await env
      .open(id)
      .increment('counter')
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SessionUpdateConflictException);
    expect(env.store.outcomes).toHaveLength(DEFAULT_UPDATE_ATTEMPTS);
  }, 20_000);

  it('a store that stops answering: every queued update answers 503 within about two deadlines, not one deadline each', async () => {
    const env = setup(counting(new StalledUpdateStore()), { storeTimeout: 200 });
    const id = await env.start({ counter: 0 });
    const requests = Array.from({ length: 5 }, () => env.open(id));
    await Promise.all(requests.map((handle) => handle.load()));
    const started = performance.now();
    const outcomes = await Promise.all(requests.map((handle) => handle.increment('counter').catch((error: unknown) => error)));
    const elapsed = performance.now() - started;
    for (const outcome of outcomes) expect(outcome).toBeInstanceOf(SessionStoreUnavailableException);
    // Taking turns without a bound would answer the last one after 5 x 200 ms.
    expect(elapsed).toBeLessThan(800);
    expect(await env.stored(id)).toEqual({ counter: 0 });
  });

  it('pauses nothing after the first refusal, then a random share of a window doubling up to 32 ms', () => {
    const most = () => 0.999_999;
    expect(updatePauseMs(1, most)).toBe(0);
    expect(updatePauseMs(2, most)).toBeCloseTo(1, 3);
    expect(updatePauseMs(3, most)).toBeCloseTo(2, 3);
    expect(updatePauseMs(7, most)).toBeCloseTo(32, 3);
    expect(updatePauseMs(40, most)).toBeCloseTo(32, 3);
    expect(updatePauseMs(5, () => 0)).toBe(0);
  });

  it('logout wins: a session destroyed by another request meanwhile is not written, update resolves undefined, the cookie is expired', async () => {
    const env = setup(counting(new CountingMemoryStore()));
    const id = await env.start({ counter: 1 });
    const slow = env.open(id);
    await slow.load();
    await slow.set('other', 'x');
    const logout = env.open(id);
    await logout.destroy();
    await logout.finalize(200);
    expect(await slow.increment('counter')).toBeUndefined();
    await slow.finalize(200);
    expect(await env.stored(id)).toBeUndefined();
    expect(env.store.outcomes).toEqual(['gone']);
    const [cookie] = slow.setCookieHeaders();
    expect(parseSetCookie(cookie).maxAge).toBe(0);
  });

  it('moves the idle deadline like any write', async () => {
    const env = setup(counting(new CountingMemoryStore()), { idleTimeout: 60 });
    const id = await env.start({ counter: 1 });
    const before = (await env.store.get(sessionStoreKey(id)))!.expiresAt;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await env.open(id).increment('counter');
    const after = (await env.store.get(sessionStoreKey(id)))!.expiresAt;
    expect(after).toBeGreaterThan(before);
    expect(after).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it('refuses a non-JSON result, a non-function, a bad bound and a non-number increment, writing nothing', async () => {
    const env = setup(counting(new CountingMemoryStore()));
    const id = await env.start({ counter: 1, name: 'ada' });
    const handle = env.open(id);
    await expect(handle.update('counter', () => new Date() as unknown as number)).rejects.toThrow(SessionValueError);
    await expect(handle.update('counter', 5 as unknown as () => number)).rejects.toThrow(/needs a function/);
    await expect(handle.update('counter', (n) => n, { maxAttempts: 0 })).rejects.toThrow(/maxAttempts must be a positive integer/);
    await expect(handle.increment('name')).rejects.toThrow('session key "name" holds a string, not a number; increment() needs a number');
    await expect(handle.increment('counter', Number.NaN)).rejects.toThrow(/needs a finite number/);
    expect(await env.stored(id)).toEqual({ counter: 1, name: 'ada' });
    expect(await handle.increment('missing', 3)).toBe(3);
    expect(await env.stored(id)).toEqual({ counter: 1, name: 'ada', missing: 3 });
  });
});

describe('session.update staged in the request', () => {
  it('a new session (no record yet): staged like set, written by the commit, not by a 5xx', async () => {
    const env = setup(counting(new CountingMemoryStore()));
    const first = env.open();
    expect(await first.increment('counter')).toBe(1);
    expect(await first.increment('counter')).toBe(2);
    expect(await env.stored(first.id)).toBeUndefined();
    await first.finalize(200);
    expect(await env.stored(first.id)).toEqual({ counter: 2 });
    expect(env.store.outcomes).toEqual([]);

    const failed = env.open();
    await failed.increment('counter');
    await failed.finalize(500);
    expect(await env.stored(failed.id)).toBeUndefined();
  });

  it('a key with a change staged in this request: fn sees the staged value and the result stays staged', async () => {
    const env = setup(counting(new CountingMemoryStore()));
    const id = await env.start({ counter: 1 });
    const handle = env.open(id);
    await handle.set('counter', 10);
    expect(await handle.increment('counter')).toBe(11);
    expect(await env.stored(id)).toEqual({ counter: 1 });
    await handle.finalize(200);
    expect(await env.stored(id)).toEqual({ counter: 11 });
    expect(env.store.outcomes).toEqual([]);
  });

  it('CookieStore: the record is the cookie, so update works on the request copy (atomic within one request only)', async () => {
    const env = setup(new CookieStore({ secret: SECRET }));
    const first = env.open();
    expect(await first.increment('counter')).toBe(1);
    await first.finalize(200);
    const cookie = parseSetCookie(first.setCookieHeaders()[0]).value as string;
    const next = env.openWithCookie(cookie);
    expect(await next.increment('counter')).toBe(2);
    expect(await next.increment('counter')).toBe(3);
    // Two requests with the same cookie each start from it: whichever cookie the browser keeps wins.
    const [a, b] = [env.openWithCookie(cookie), env.openWithCookie(cookie)];
    expect(await Promise.all([a.increment('counter'), b.increment('counter')])).toEqual([2, 2]);
  });

  it('a store without compareAndSet throws SessionUpdateUnsupportedError naming the store and the fix', async () => {
    const env = setup(new PlainStore());
    const id = await env.start({ counter: 1 });
    await expect(env.open(id).increment('counter')).rejects.toThrow(SessionUpdateUnsupportedError);
    await expect(env.open(id).increment('counter')).rejects.toThrow(
      'session.update() needs a store that can update one key atomically, and PlainStore has no compareAndSet(); implement SessionStore.compareAndSet in it, or use session.get() and session.set() (last writer wins)',
    );
    expect(await env.stored(id)).toEqual({ counter: 1 });
  });
});
