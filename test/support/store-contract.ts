/**
 * The store contract: the same end-to-end cases, through a real Nest app, for every store.
 * Each `test/store-*.e2e-spec.ts` file runs it with a fixture that builds its store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Body, Controller, HttpCode, type INestApplication, PayloadTooLargeException, Post, type Type } from '@nestjs/common';
import request, { type Response } from 'supertest';
import { inject, it as vitestIt } from 'vitest';
import { Session, SessionStore, type SessionModuleOptions, SessionTooLargeError, type SessionWrite } from '@novanest/session';
import { cookieValue, setCookieFor } from './cookies.js';
import { type Platform, PLATFORMS, startApp } from './platforms.js';
import { sessionTestModule } from './session-test.controller.js';
import { runUserIndexCases, runUserIndexExpiry, UserIndexController } from './user-index-contract.js';

/** One store under test, and what the suite may do to it. */
export interface StoreFixture {
  store: SessionStore;
  /** Takes the store away from this fixture's client and brings it back. Absent: cannot fail. */
  outage?: { down(): Promise<void>; up(): Promise<void> };
  /** A second store over the same data, as another node would hold it. */
  sibling(): Promise<SessionStore>;
  /** Closes and removes what the fixture opened. */
  close(): Promise<void>;
  /** How many entries the store's per-user index holds for `userId`, looked at directly. */
  userIndexSize?(userId: string): Promise<number>;
}

export interface StoreContract {
  name: string;
  /** A fresh, isolated store (own key prefix, table or backend). */
  create(): Promise<StoreFixture>;
  /**
   * Whether two nodes committing different keys of one session at the same time keep both
   * (true for per-key stores). A whole-object store cannot; the suite then asserts the loss.
   */
  perKeyAcrossNodes: boolean;
  platforms?: readonly Platform[];
  /**
   * Whether this store also runs the timeouts through HTTP (idle 1 s, absolute 3 s, real
   * waiting: about 6 s per platform). One store does, for the interceptor's side of it; every
   * store runs them at store level with TTLs of tens of ms (`runStoreExpiry`).
   */
  httpTimeouts?: boolean;
  /** The store keeps a per-user index (`listByUser`): run the user-index cases. */
  userIndex?: boolean;
}

/** The URL provisioned by `test/support/services.ts`, or a failure saying how to get one. */
export function serviceUrl(name: 'redis' | 'redisCluster' | 'postgres'): string {
  const info = inject(name);
  if ('error' in info) throw new Error(info.error);
  return info.url;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The store key of a session id, as the library computes it (SHA-256, base64url). */
export function storeKeyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

const STORE_DOWN_MESSAGE = 'Session store unavailable; please retry shortly.';

/** The contract's own route; the rest are the shared `SessionTestController`'s. */
@Controller()
class ContractController {
  /** Loads the session, then takes its time before writing: a request overtaken by a logout. */
  @Post('slow-set')
  @HttpCode(200)
  async slowSet(@Session() session: Session, @Body() body: { key: string; value: unknown; delayMs: number }) {
    await session.load();
    await sleep(body.delayMs);
    await session.set(body.key, body.value);
    return { ok: true };
  }

  /**
   * Sets `key` to a string of `length` x's made here, as `/set` would (a SessionTooLargeError
   * is a 413 with the library's message): values larger than the platforms' body limits.
   */
  @Post('set-generated')
  @HttpCode(200)
  async setGenerated(@Session() session: Session, @Body() body: { key: string; length: number }) {
    try {
      await session.set(body.key, 'x'.repeat(body.length));
    } catch (error) {
      if (error instanceof SessionTooLargeError) throw new PayloadTooLargeException(error.message);
      throw error;
    }
    return { ok: true };
  }

  /** The atomic per-key update: one more on `counter`. */
  @Post('increment')
  @HttpCode(200)
  async increment(@Session() session: Session) {
    return { counter: (await session.increment('counter')) ?? null };
  }
}

/** An app module serving the contract routes over `store`. */
export function appModule(store: SessionStore, options: SessionModuleOptions): Type<unknown> {
  return sessionTestModule(store, options, ContractController, UserIndexController);
}

const withId = (id: string): string => `session_id=${id}`;

function isExpiredCookie(line: string | undefined): boolean {
  return line !== undefined && /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(line);
}

/** Runs the contract for one store: its expiry at store level, then the HTTP cases on each platform. */
export function runStoreContract(contract: StoreContract): void {
  runStoreExpiry(contract);
  if (contract.userIndex) runUserIndexExpiry(contract);
  describe.each(contract.platforms ?? PLATFORMS)(`${contract.name} store contract on %s`, (platform) => {
    let fixture: StoreFixture;
    let app: INestApplication;
    let server: ReturnType<INestApplication['getHttpServer']>;

    /**
     * A fixture that cannot be built (server missing) fails every case with its one sentence,
     * rather than leaving them "skipped" the way a failing beforeAll would.
     */
    let setupError: unknown;
    const it = (name: string, body: () => Promise<void>): void => {
      vitestIt(name, async () => {
        if (setupError !== undefined) throw setupError;
        await body();
      });
    };

    beforeAll(async () => {
      try {
        fixture = await contract.create();
        app = await startApp(platform, appModule(fixture.store, {}));
        server = app.getHttpServer();
      } catch (error) {
        setupError = error;
      }
    });

    afterAll(async () => {
      await app?.close();
      await fixture?.close();
    });

    async function setValue(key: string, value: unknown, id?: string): Promise<Response> {
      const call = request(server).post('/set').send({ key, value });
      const response = await (id === undefined ? call : call.set('Cookie', withId(id)));
      expect(response.status).toBe(200);
      return response;
    }

    async function allOf(id: string, target = server): Promise<{ data: Record<string, unknown>; isNew: boolean }> {
      const response = await request(target).get('/read').set('Cookie', withId(id));
      expect(response.status).toBe(200);
      const { data, isNew } = response.body as { data: Record<string, unknown>; isNew: boolean };
      return { data, isNew };
    }

    /** Starts a session holding `key`; resolves with its id. */
    async function newSession(key = 'start', value: unknown = true): Promise<string> {
      const id = cookieValue(await setValue(key, value));
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      return id as string;
    }

    it('keeps values per key across requests: set, get, delete, clear', async () => {
      const id = await newSession('user', { name: 'ada', roles: ['admin'] });
      await setValue('count', 1, id);
      expect(await allOf(id)).toEqual({ data: { user: { name: 'ada', roles: ['admin'] }, count: 1 }, isNew: false });

      await setValue('count', 2, id);
      expect((await request(server).post('/delete').send({ key: 'user' }).set('Cookie', withId(id))).status).toBe(200);
      expect((await allOf(id)).data).toEqual({ count: 2 });
      const one = await request(server).get('/get/count').set('Cookie', withId(id));
      expect(one.body).toEqual({ value: 2 });

      const stored = await fixture.store.get(storeKeyOf(id));
      expect(stored && Object.fromEntries(stored.data)).toEqual({ count: 2 });

      expect((await request(server).post('/clear').set('Cookie', withId(id))).status).toBe(200);
      expect((await allOf(id)).data).toEqual({});
    });

    it('keeps keys that look like its own bookkeeping or like prototype names as plain data', async () => {
      const id = await newSession();
      const names = ['__proto__', 'constructor', 'm', 'm:created', 'd:start', 'v:start', 'cookie', 'createdAt', 'data'];
      for (const name of names) await setValue(name, `${name}!`, id);
      const { data } = await allOf(id);
      for (const name of names) expect(Object.getOwnPropertyDescriptor(data, name)?.value).toBe(`${name}!`);
      expect(data.start).toBe(true);
      expect(Object.keys(data)).toHaveLength(names.length + 1);
      expect(({} as Record<string, unknown>)['m:created']).toBeUndefined();
      const stored = await fixture.store.get(storeKeyOf(id));
      expect(stored?.data.get('__proto__')).toBe('__proto__!');
      expect(Object.getPrototypeOf(Object.fromEntries(stored?.data ?? []))).toBe(Object.prototype);
    });

    it('a 1 MB value, over the default maxSessionBytes (64 KiB), is refused at set with a 413 and nothing of it is committed', async () => {
      const id = await newSession('user', 'ada');
      const megabyte = 1024 * 1024;
      const refused = await request(server).post('/set-generated').send({ key: 'big', length: megabyte }).set('Cookie', withId(id));
      expect(refused.status).toBe(413);
      const size = Buffer.byteLength(JSON.stringify({ user: 'ada', big: 'x'.repeat(megabyte) }));
      expect(refused.body.message).toBe(
        `session would be ${size} bytes of JSON, over the 65536-byte limit (maxSessionBytes); store less in the session or raise maxSessionBytes`,
      );
      expect(setCookieFor(refused)).toBeUndefined();
      expect(await allOf(id)).toEqual({ data: { user: 'ada' }, isNew: false });
      const stored = await fixture.store.get(storeKeyOf(id));
      expect(stored && Object.fromEntries(stored.data)).toEqual({ user: 'ada' });

      // A new visitor whose first write is refused gets no record.
      const fresh = await request(server).post('/set-generated').send({ key: 'big', length: megabyte });
      expect(fresh.status).toBe(413);
      const freshId = cookieValue(fresh);
      if (freshId !== undefined) expect(await fixture.store.get(storeKeyOf(freshId))).toBeUndefined();

      // Under the limit is fine.
      const fits = await request(server).post('/set-generated').send({ key: 'big', length: 60_000 }).set('Cookie', withId(id));
      expect(fits.status).toBe(200);
      expect(((await allOf(id)).data.big as string).length).toBe(60_000);
    });

    it('destroy removes the record, expires the cookie, and the old id is never adopted again', async () => {
      const id = await newSession();
      const response = await request(server).post('/destroy').set('Cookie', withId(id));
      expect(response.status).toBe(200);
      expect(isExpiredCookie(setCookieFor(response))).toBe(true);
      expect(await fixture.store.get(storeKeyOf(id))).toBeUndefined();
      expect(await allOf(id)).toEqual({ data: {}, isNew: true });
      const reused = await setValue('again', 1, id);
      const fresh = cookieValue(reused);
      expect(fresh).toBeDefined();
      expect(fresh).not.toBe(id);
      expect(await fixture.store.get(storeKeyOf(id))).toBeUndefined();
    });

    it('regenerate moves the data to a new id and kills the old one', async () => {
      const id = await newSession('user', 'ada');
      const response = await request(server).post('/regenerate').set('Cookie', withId(id));
      expect(response.status).toBe(200);
      const renewed = cookieValue(response);
      expect(renewed).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(renewed).not.toBe(id);
      expect(await allOf(renewed as string)).toEqual({ data: { user: 'ada' }, isNew: false });
      expect(await allOf(id)).toEqual({ data: {}, isNew: true });
      expect(await fixture.store.get(storeKeyOf(id))).toBeUndefined();
    });

    it('a new visitor: 20 parallel first writes of different keys make one session under the issued id (or, on a store that cannot adopt, 20); a planted unknown id is still not adopted', async () => {
      // The first response issues the id; nothing is stored under it yet.
      const first = await request(server).get('/read');
      expect(first.status).toBe(200);
      const issued = cookieValue(first) as string;
      expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await fixture.store.get(storeKeyOf(issued))).toBeUndefined();

      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          request(server)
            .post('/set')
            .send({ key: `first${i}`, value: i })
            .set('Cookie', withId(issued)),
        ),
      );
      expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
      const expected = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`first${i}`, i]));
      if (typeof fixture.store.adopt === 'function') {
        // The id stays: no response sends another one, and every key is in one record.
        expect(responses.map((response) => cookieValue(response) ?? issued)).toEqual(responses.map(() => issued));
        expect(await allOf(issued)).toEqual({ data: expected, isNew: false });
        const stored = await fixture.store.get(storeKeyOf(issued));
        expect(stored && Object.fromEntries(stored.data)).toEqual(expected);
      } else {
        // Today's strict rule on a store that cannot create-if-absent: each first write gets a
        // fresh id of its own, holding its own key, and nothing is written under the issued one.
        const ids = responses.map((response) => cookieValue(response));
        expect(new Set(ids).size).toBe(20);
        expect(ids).not.toContain(issued);
        expect(await fixture.store.get(storeKeyOf(issued))).toBeUndefined();
        const kept = await Promise.all(ids.map(async (id) => (await allOf(id as string)).data));
        expect(Object.assign({}, ...kept)).toEqual(expected);
      }

      // A well-formed id this server never issued is not adopted: the write gets a fresh id.
      const planted = randomBytes(32).toString('base64url');
      const minted = await setValue('planted', 1, planted);
      const fresh = cookieValue(minted);
      expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(fresh).not.toBe(planted);
      expect(await fixture.store.get(storeKeyOf(planted))).toBeUndefined();
      expect(await allOf(fresh as string)).toEqual({ data: { planted: 1 }, isNew: false });
    });

    it('a logout racing 20 parallel first writes wins: afterwards nothing lives under the issued id', async () => {
      const issued = cookieValue(await request(server).get('/read')) as string;
      const writes = Array.from({ length: 20 }, (_, i) =>
        request(server)
          .post('/set')
          .send({ key: `race${i}`, value: i })
          .set('Cookie', withId(issued)),
      );
      const logout = request(server).post('/destroy').set('Cookie', withId(issued));
      const [loggedOut, ...written] = await Promise.all([logout, ...writes]);
      expect(loggedOut.status).toBe(200);
      expect(written.map((response) => response.status)).toEqual(written.map(() => 200));
      expect(await fixture.store.get(storeKeyOf(issued))).toBeUndefined();
      expect(await allOf(issued)).toEqual({ data: {}, isNew: true });
      // And a write after it all still cannot bring the id back.
      expect(cookieValue(await setValue('after', 1, issued))).not.toBe(issued);
      expect(await fixture.store.get(storeKeyOf(issued))).toBeUndefined();
    });

    it('a destroyed issued id is never adopted again: a late first write carrying it gets a fresh id', async () => {
      const issued = cookieValue(await request(server).get('/read')) as string;
      // Logged out before anything was written, then a write arrives with the old id.
      const logout = await request(server).post('/destroy').set('Cookie', withId(issued));
      expect(logout.status).toBe(200);
      const late = await setValue('late', 1, issued);
      const fresh = cookieValue(late);
      expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(fresh).not.toBe(issued);
      expect(await fixture.store.get(storeKeyOf(issued))).toBeUndefined();
      expect(await allOf(issued)).toEqual({ data: {}, isNew: true });
      expect(await allOf(fresh as string)).toEqual({ data: { late: 1 }, isNew: false });
    });

    it('100 parallel requests setting different keys of one session keep all 100 keys', async () => {
      const id = await newSession();
      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          request(server)
            .post('/set')
            .send({ key: `k${i}`, value: i })
            .set('Cookie', withId(id)),
        ),
      );
      expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
      const { data } = await allOf(id);
      expect(Object.keys(data)).toHaveLength(101);
      for (let i = 0; i < 100; i++) expect(data[`k${i}`]).toBe(i);
    });

    it(
      contract.perKeyAcrossNodes
        ? 'two nodes setting different keys of one session at once keep every key'
        : 'two nodes setting different keys of one session at once can lose keys (whole-object store)',
      async () => {
        const sibling = await fixture.sibling();
        const other = await startApp(platform, appModule(sibling, {}));
        try {
          const id = await newSession();
          const targets = [server, other.getHttpServer()];
          const responses = await Promise.all(
            Array.from({ length: 100 }, (_, i) =>
              request(targets[i % 2])
                .post('/set')
                .send({ key: `k${i}`, value: i })
                .set('Cookie', withId(id)),
            ),
          );
          expect(responses.every((response) => response.status === 200)).toBe(true);
          const kept = Object.keys((await allOf(id)).data).length;
          if (contract.perKeyAcrossNodes) expect(kept).toBe(101);
          else expect(kept).toBeLessThan(101);
        } finally {
          await other.close();
        }
      },
    );

    it(
      contract.perKeyAcrossNodes
        ? '100 concurrent increments of one key from two nodes: exactly +100 (session.increment)'
        : '100 concurrent increments of one key on one node: exactly +100 (session.increment; atomic within one process only)',
      async () => {
        const sibling = contract.perKeyAcrossNodes ? await fixture.sibling() : undefined;
        const other = sibling === undefined ? undefined : await startApp(platform, appModule(sibling, {}));
        try {
          const id = await newSession('counter', 1000);
          const targets = other === undefined ? [server] : [server, other.getHttpServer()];
          const responses = await Promise.all(
            Array.from({ length: 100 }, (_, i) =>
              request(targets[i % targets.length])
                .post('/increment')
                .set('Cookie', withId(id)),
            ),
          );
          expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
          const counters = responses.map((response) => (response.body as { counter: number }).counter);
          // Each increment saw every one applied before it: 100 distinct answers, 1001 to 1100.
          expect([...counters].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 1001 + i));
          expect((await allOf(id)).data).toEqual({ counter: 1100 });
        } finally {
          await other?.close();
        }
      },
    );

    it('a slow request that writes after a concurrent logout does not bring the session back', async () => {
      const id = await newSession('user', 'ada');
      const slow = request(server)
        .post('/slow-set')
        .send({ key: 'late', value: 1, delayMs: 400 })
        .set('Cookie', withId(id))
        .then((response) => response);
      await sleep(150);
      const logout = await request(server).post('/destroy').set('Cookie', withId(id));
      expect(logout.status).toBe(200);
      const late = await slow;
      expect(late.status).toBe(200);
      // The store told the slow request that the session is gone: its cookie is cleared and
      // no new id is issued.
      expect(isExpiredCookie(setCookieFor(late))).toBe(true);
      expect(await fixture.store.get(storeKeyOf(id))).toBeUndefined();
      expect(await allOf(id)).toEqual({ data: {}, isNew: true });
    });

    // Through HTTP on one store; every store's own expiry is checked in runStoreExpiry.
    if (contract.httpTimeouts) {
      describe('timeouts (idleTimeout: 1 s, absoluteTimeout: 3 s, real waiting)', () => {
        let shortFixture: StoreFixture;
        let shortApp: INestApplication;
        let shortServer: ReturnType<INestApplication['getHttpServer']>;

        beforeAll(async () => {
          if (setupError !== undefined) return;
          try {
            shortFixture = await contract.create();
            shortApp = await startApp(platform, appModule(shortFixture.store, { idleTimeout: 1, absoluteTimeout: 3 }));
            shortServer = shortApp.getHttpServer();
          } catch (error) {
            setupError = error;
          }
        });

        afterAll(async () => {
          await shortApp?.close();
          await shortFixture?.close();
        });

        async function read(id: string): Promise<unknown> {
          const response = await request(shortServer).get('/get/a').set('Cookie', withId(id));
          expect(response.status).toBe(200);
          return (response.body as { value: unknown }).value;
        }

        it('an idle session expires; reading it slides the idle timeout', async () => {
          const response = await request(shortServer).post('/set').send({ key: 'a', value: 'x' });
          const id = cookieValue(response) as string;
          await sleep(600);
          expect(await read(id)).toBe('x');
          await sleep(600);
          // 1.2 s after creation: alive only because the reads extended it.
          expect(await read(id)).toBe('x');
          await sleep(1200);
          expect(await read(id)).toBeNull();
          expect(await shortFixture.store.get(storeKeyOf(id))).toBeUndefined();
        });

        it('an active session still ends at the absolute timeout', async () => {
          const start = Date.now();
          const response = await request(shortServer).post('/set').send({ key: 'a', value: 'x' });
          const id = cookieValue(response) as string;
          for (let step = 1; step <= 3; step++) {
            await sleep(start + step * 800 - Date.now());
            const write = await request(shortServer).post('/set').send({ key: 'b', value: step }).set('Cookie', withId(id));
            expect(write.status).toBe(200);
            expect(await read(id)).toBe('x');
          }
          await sleep(start + 3300 - Date.now());
          expect(await read(id)).toBeNull();
          expect(await shortFixture.store.get(storeKeyOf(id))).toBeUndefined();
        });
      });
    }

    if (contract.userIndex) {
      describe("a user's sessions", () => {
        runUserIndexCases(contract, platform, {
          server: () => server,
          fixture: () => fixture,
          appModule: (store) => appModule(store, {}),
          it,
        });
      });
    }

    if (contract.name !== 'memory') {
      it('store down: 503 with a clear message and no Set-Cookie, process stays up, recovers by itself', async () => {
        const outage = fixture.outage;
        expect(outage, `${contract.name} fixture must be able to take its store down`).toBeDefined();
        if (outage === undefined) return;
        const id = await newSession('user', 'ada');
        await outage.down();
        try {
          const read = await request(server).get('/read').set('Cookie', withId(id));
          expect(read.status).toBe(503);
          expect(read.body.message).toBe(STORE_DOWN_MESSAGE);
          expect(setCookieFor(read)).toBeUndefined();

          const fresh = await request(server).post('/set').send({ key: 'x', value: 1 });
          expect(fresh.status).toBe(503);
          expect(fresh.body.message).toBe(STORE_DOWN_MESSAGE);
          expect(setCookieFor(fresh)).toBeUndefined();

          expect((await request(server).get('/untouched')).status).toBe(200);
        } finally {
          await outage.up();
        }
        let recovered: Response | undefined;
        for (let attempt = 0; attempt < 50; attempt++) {
          recovered = await request(server).get('/read').set('Cookie', withId(id));
          if (recovered.status === 200) break;
          await sleep(100);
        }
        expect(recovered?.status).toBe(200);
        expect(recovered?.body).toEqual({ id, isNew: false, data: { user: 'ada' } });
        await setValue('after', 1, id);
        expect((await allOf(id)).data).toEqual({ user: 'ada', after: 1 });
      });
    }
  });
}

/** Thrown when the machine fell behind a schedule that a timing assertion depends on. */
class BehindSchedule extends Error {}

/** Ends the attempt (not the test) when `deadline` (ms since the epoch) has passed. */
function onSchedule(deadline: number, what: string): void {
  const late = Date.now() - deadline;
  if (late >= 0) throw new BehindSchedule(`${what}: ${late} ms behind schedule`);
}

const sleepUntil = (time: number): Promise<void> => sleep(Math.max(0, time - Date.now()));

/**
 * Runs a timing scenario with a TTL of tens of ms. On a machine too busy to keep the schedule
 * (a store call slower than the TTL: no fault of the store) the scenario runs again with a TTL
 * twice as long, up to 16 times the first; assertion failures are never retried.
 */
async function withShortTtl(scenario: (ttl: number) => Promise<void>): Promise<void> {
  const ttls = [50, 100, 200, 400, 800];
  for (const ttl of ttls) {
    try {
      await scenario(ttl);
      return;
    } catch (error) {
      if (!(error instanceof BehindSchedule) || ttl === ttls[ttls.length - 1]) throw error;
      console.log(`${error.message} with a TTL of ${ttl} ms; again with ${2 * ttl} ms`);
    }
  }
}

/** How long past a deadline the suite waits before it expects the session gone. */
const PAST = 5;

function createWrite(set: Record<string, unknown>, createdAt: number, ttl: number): SessionWrite {
  return { mode: 'create', set: new Map(Object.entries(set)), delete: [], clear: false, createdAt, ttl };
}

function updateWrite(set: Record<string, unknown>, ttl: number): SessionWrite {
  return { mode: 'update', set: new Map(Object.entries(set)), delete: [], clear: false, createdAt: 0, ttl };
}

/**
 * The timeouts of one store, through the SessionStore API, with the TTLs the interceptor would
 * compute (the idle timeout, cut short by what is left of the absolute one), scaled down to
 * tens of ms: what the HTTP-level cases checked per store (that a session nobody touches is
 * gone from the store, that a touch slides it, that the absolute timeout ends an active one),
 * without a second of real waiting per case.
 */
function runStoreExpiry(contract: StoreContract): void {
  describe(`${contract.name} store expiry (store level, TTLs of tens of ms)`, () => {
    let fixture: StoreFixture | undefined;
    let setupError: unknown;
    const it = (name: string, body: (store: SessionStore) => Promise<void>): void => {
      vitestIt(name, async () => {
        if (setupError !== undefined) throw setupError;
        await body((fixture as StoreFixture).store);
      });
    };

    beforeAll(async () => {
      try {
        fixture = await contract.create();
      } catch (error) {
        setupError = error;
      }
    });
    afterAll(async () => {
      await fixture?.close();
    });

    const freshKey = (): string => storeKeyOf(randomBytes(32).toString('base64url'));

    async function expectAlive(store: SessionStore, key: string, data: Record<string, unknown>, createdAt: number, aliveUntil: number) {
      const session = await store.get(key);
      onSchedule(aliveUntil, 'read of a live session');
      expect(session && Object.fromEntries(session.data)).toEqual(data);
      expect(session?.createdAt).toBe(createdAt);
      // The interceptor refuses a record whose expiresAt has passed: it must lie ahead.
      expect(session?.expiresAt).toBeGreaterThan(Date.now() - PAST);
    }

    it('compareAndSet applies on the expected value only, answers the current one, never creates a session', async (store) => {
      expect(store.compareAndSet, `${contract.name} must implement compareAndSet`).toBeTypeOf('function');
      const cas = (key: string, field: string, expected: unknown, next: unknown, ttl = 60_000) =>
        store.compareAndSet!(key, field, expected, next, ttl);
      const key = freshKey();
      expect(await cas(key, 'n', undefined, 1)).toEqual({ outcome: 'gone' });
      expect(await store.get(key)).toBeUndefined();

      expect(await store.write(key, createWrite({ n: 1, obj: { b: [1, { c: null }], a: 'x' } }, Date.now(), 60_000))).toBe(true);
      expect(await cas(key, 'n', 2, 3)).toEqual({ outcome: 'changed', current: 1 });
      expect(await cas(key, 'n', 1, 2)).toEqual({ outcome: 'applied' });
      expect(await cas(key, 'n', 1, 5)).toEqual({ outcome: 'changed', current: 2 });
      // Absent and JSON null are different values.
      expect(await cas(key, 'k', 0, 1)).toEqual({ outcome: 'changed', current: undefined });
      expect(await cas(key, 'k', undefined, null)).toEqual({ outcome: 'applied' });
      expect(await cas(key, 'k', undefined, 1)).toEqual({ outcome: 'changed', current: null });
      // An object value, as the store handed it out, is its expected value.
      const loaded = await store.get(key);
      expect(await cas(key, 'obj', loaded?.data.get('obj'), { replaced: true })).toEqual({ outcome: 'applied' });
      expect(Object.fromEntries((await store.get(key))?.data ?? [])).toEqual({ n: 2, k: null, obj: { replaced: true } });

      // The ttl moves the expiry, as a write's does.
      expect(await cas(key, 'n', 2, 3, 1)).toEqual({ outcome: 'applied' });
      await sleep(30);
      expect(await store.get(key)).toBeUndefined();
      expect(await cas(key, 'n', 3, 4)).toEqual({ outcome: 'gone' });
      expect(await store.get(key)).toBeUndefined();
    });

    it('adopt creates a session or merges into the live one; a destroy mark refuses it and is no session', async (store) => {
      if (store.adopt === undefined) {
        // A store that cannot create-if-absent: the handle gives each first write a fresh id.
        expect(contract.name).toMatch(/express-session|nova/);
        return;
      }
      const adopt = (key: string, set: Record<string, unknown>, createdAt: number) =>
        store.adopt!(key, createWrite(set, createdAt, 60_000));
      const createdAt = Date.now() - 5_000;
      const key = freshKey();
      expect(await adopt(key, { a: 1 }, createdAt)).toBe(true);
      // A second first write merges per key and keeps the first one's creation time.
      expect(await adopt(key, { b: 2, a: 3 }, createdAt + 1)).toBe(true);
      const merged = await store.get(key);
      expect(merged && Object.fromEntries(merged.data)).toEqual({ a: 3, b: 2 });
      expect(merged?.createdAt).toBe(createdAt);

      // Destroyed with a mark: the live session was there (true), and adopt now refuses.
      expect(await store.destroy(key, 60_000)).toBe(true);
      expect(await adopt(key, { c: 1 }, createdAt)).toBe(false);
      // The mark is no session to anything else.
      expect(await store.get(key)).toBeUndefined();
      expect(await store.touch(key, 60_000)).toBe(false);
      expect(await store.write(key, updateWrite({ d: 1 }, 60_000))).toBe(false);
      expect(await store.compareAndSet?.(key, 'd', undefined, 1, 60_000)).toEqual({ outcome: 'gone' });
      expect(await store.destroy(key, 60_000)).toBe(false);
      expect(await store.get(key)).toBeUndefined();

      // A key that never held a session can be marked too (a logout before the first write).
      const never = freshKey();
      expect(await store.destroy(never, 60_000)).toBe(false);
      expect(await adopt(never, { a: 1 }, createdAt)).toBe(false);

      // A mark runs out: the key can be adopted again afterwards.
      const brief = freshKey();
      expect(await store.destroy(brief, 20)).toBe(false);
      await sleep(60);
      expect(await adopt(brief, { a: 1 }, createdAt)).toBe(true);
      expect(Object.fromEntries((await store.get(brief))?.data ?? [])).toEqual({ a: 1 });

      // A plain destroy (no mark) leaves the key adoptable, as for ids that cannot be adopted anyway.
      expect(await store.destroy(brief)).toBe(true);
      expect(await adopt(brief, { e: 1 }, createdAt)).toBe(true);
    });

    it('an idle session expires; a touch slides the idle timeout; an expired one stays gone', () =>
      withShortTtl(async (ttl) => {
        const key = freshKey();
        const createdAt = Date.now();
        expect(await fixture!.store.write(key, createWrite({ a: 'x' }, createdAt, ttl))).toBe(true);
        const written = Date.now();
        // The record expires at most `ttl` after the write returned, and no sooner than `ttl` after it began.

        await sleepUntil(createdAt + ttl / 2);
        await expectAlive(fixture!.store, key, { a: 'x' }, createdAt, createdAt + ttl);
        const touchStart = Date.now();
        const touched = await fixture!.store.touch(key, ttl);
        onSchedule(createdAt + ttl, 'touch of a live session');
        expect(touched).toBe(true);
        const touchEnd = Date.now();

        // Past the first expiry: alive only because the touch extended it.
        await sleepUntil(written + ttl + PAST);
        await expectAlive(fixture!.store, key, { a: 'x' }, createdAt, touchStart + ttl);

        // Idle for a whole TTL since the touch: gone, and neither a touch nor a write brings it back.
        await sleepUntil(touchEnd + ttl + PAST);
        expect(await fixture!.store.get(key)).toBeUndefined();
        expect(await fixture!.store.touch(key, ttl)).toBe(false);
        expect(await fixture!.store.write(key, updateWrite({ late: 1 }, ttl))).toBe(false);
        expect(await fixture!.store.get(key)).toBeUndefined();
      }));

    it('an active session still ends at the absolute timeout', () =>
      withShortTtl(async (idle) => {
        const absolute = 1.5 * idle;
        const key = freshKey();
        const createdAt = Date.now();
        // As the interceptor computes it: the idle timeout, cut short by the absolute one.
        const ttlNow = (): number => Math.max(0, Math.min(idle, createdAt + absolute - Date.now()));
        let aliveUntil = createdAt + ttlNow();
        expect(await fixture!.store.write(key, createWrite({ a: 'x' }, createdAt, ttlNow()))).toBe(true);
        let data: Record<string, unknown> = { a: 'x' };
        let lastActivity = createdAt;

        // Active every 0.4 idle timeouts: a write, a touch (a read), a write; the last one's TTL is cut short.
        for (const step of [1, 2, 3]) {
          await sleepUntil(createdAt + step * 0.4 * idle);
          lastActivity = Date.now();
          const ttl = ttlNow();
          if (step === 2) {
            const touched = await fixture!.store.touch(key, ttl);
            onSchedule(aliveUntil, 'touch of a live session');
            expect(touched).toBe(true);
          } else {
            const wrote = await fixture!.store.write(key, updateWrite({ b: step }, ttl));
            onSchedule(aliveUntil, 'write to a live session');
            expect(wrote).toBe(true);
            data = { ...data, b: step };
          }
          aliveUntil = lastActivity + ttl;
          await expectAlive(fixture!.store, key, data, createdAt, aliveUntil);
        }

        // The idle timeout alone would keep it until lastActivity + idle; the absolute one ends it.
        await sleepUntil(createdAt + absolute + PAST);
        const ended = await fixture!.store.get(key);
        onSchedule(lastActivity + idle, 'read before the idle timeout');
        expect(ended).toBeUndefined();
      }));
  });
}
