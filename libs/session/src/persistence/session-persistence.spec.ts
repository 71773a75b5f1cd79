import type { Logger } from '@nestjs/common';
import { CookieSealer, type SealedSession } from '../cookie/cookie-sealer.js';
import { SessionIdSigner } from '../cookie/id-signer.js';
import { SessionCookieWriter } from '../cookie/session-cookie.js';
import { generateSessionId, sessionStoreKey } from '../cookie/session-id.js';
import { SessionStoreUnavailableException, SessionTooLargeError } from '../session.exceptions.js';
import type { SessionModuleOptions } from '../session-options.interface.js';
import { resolveSessionOptions } from '../session-options.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import { MemoryStore } from '../stores/memory/memory.store.js';
import { SessionStore, type SessionWrite } from '../stores/session.store.js';
import { SealedCookiePersistence } from './sealed-cookie.persistence.js';
import { createSessionPersistence } from './session-persistence.factory.js';
import type { PersistedSession } from './session-persistence.js';
import { StorePersistence } from './store.persistence.js';

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
const OLD_SECRET = 'an-older-secret-of-thirty-two-bytes!!!';
const T0 = Date.UTC(2030, 0, 1);

function stubLogger() {
  return { debug: vi.fn(), log: vi.fn(), warn: vi.fn(), error: vi.fn(), verbose: vi.fn(), fatal: vi.fn() };
}

function create(store: SessionStore, options: SessionModuleOptions = {}) {
  const resolved = resolveSessionOptions(options);
  const logger = stubLogger();
  const persistence = createSessionPersistence(store, resolved, new SessionCookieWriter(resolved), logger as unknown as Logger);
  return { persistence, logger };
}

/** A session as the handle shows itself to a persistence. */
function persisted(snapshot: SealedSession, isNew = false): PersistedSession {
  return { id: snapshot.id, isNew, snapshot: () => snapshot, dataBytes: () => Buffer.byteLength(JSON.stringify(snapshot.data)) };
}

const stores: MemoryStore[] = [];
function memory(): MemoryStore {
  const store = new MemoryStore();
  stores.push(store);
  return store;
}
afterEach(() => {
  for (const store of stores.splice(0)) store.onApplicationShutdown();
});

describe('createSessionPersistence', () => {
  it('keeps records in the store for any store but CookieStore, and in the cookie for CookieStore', () => {
    expect(create(memory()).persistence).toBeInstanceOf(StorePersistence);
    expect(create(new CookieStore({ secret: SECRET })).persistence).toBeInstanceOf(SealedCookiePersistence);
  });
});

describe('StorePersistence', () => {
  it('decodes a well-formed id and ignores anything else with a debug line', () => {
    const { persistence, logger } = create(memory());
    const id = generateSessionId();
    expect(persistence.decode(id, T0)).toEqual({ id, stale: false });
    expect(persistence.decode('not-an-id', T0)).toBeUndefined();
    expect(logger.debug).toHaveBeenCalledWith('Ignoring a malformed session cookie');
  });

  it('with a secret, decodes only signed ids, and marks one signed under an older secret stale', () => {
    const { persistence, logger } = create(memory(), { secret: [SECRET, OLD_SECRET] });
    const id = generateSessionId();
    expect(persistence.decode(new SessionIdSigner(SECRET).sign(id), T0)).toEqual({ id, stale: false });
    expect(persistence.decode(new SessionIdSigner(OLD_SECRET).sign(id), T0)).toEqual({ id, stale: true });
    expect(persistence.decode(id, T0)).toBeUndefined();
    expect(logger.debug).toHaveBeenCalledWith('Ignoring a session cookie with a bad signature');
  });

  it('addresses records by the SHA-256 of the id and puts the (signed) id in the cookie', () => {
    const id = generateSessionId();
    const session = { id, isNew: false, snapshot: () => expect.unreachable(), dataBytes: () => expect.unreachable() };
    expect(create(memory()).persistence.recordKey(id)).toBe(sessionStoreKey(id));
    expect(create(memory()).persistence.cookieValue(session)).toBe(id);
    expect(create(memory(), { secret: SECRET }).persistence.cookieValue(session)).toBe(new SessionIdSigner(SECRET).sign(id));
  });

  it('sends the cookie before a record exists, and on a moved expiry only when the cookie carries one', () => {
    const plain = create(memory()).persistence;
    expect(plain.cookieWithoutRecord).toBe(true);
    expect(plain.cookieOnExtend).toBe(false);
    expect(create(memory(), { cookie: { persistent: true } }).persistence.cookieOnExtend).toBe(true);
    expect(create(memory(), { renew: 0.5 }).persistence.cookieOnExtend).toBe(true);
  });

  it('passes writes, touches and removals to the store under the key it is given', async () => {
    const store = memory();
    const { persistence } = create(store);
    const key = sessionStoreKey(generateSessionId());
    const change: SessionWrite = { mode: 'create', set: new Map([['a', 1]]), delete: [], clear: false, createdAt: Date.now(), ttl: 60_000 };
    expect(await persistence.write(key, change)).toBe(true);
    expect(Object.fromEntries((await persistence.load(key))!.data)).toEqual({ a: 1 });
    expect(await persistence.touch(key, 120_000)).toBe(true);
    expect(await persistence.remove(key)).toBe(true);
    expect(await persistence.load(key)).toBeUndefined();
    expect(await persistence.touch(key, 1000)).toBe(false);
  });

  it('refuses a session over maxSessionBytes (default 64 KiB) with SessionTooLargeError, and accepts one at the limit', () => {
    const sized = (bytes: number): PersistedSession => ({
      id: generateSessionId(),
      isNew: false,
      snapshot: () => expect.unreachable(),
      dataBytes: () => bytes,
    });
    const { persistence } = create(memory());
    expect(() => persistence.assertFits(sized(65_536))).not.toThrow();
    let refused: unknown;
    try {
      persistence.assertFits(sized(65_537));
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(SessionTooLargeError);
    expect(refused).toMatchObject({ size: 65_537, limit: 65_536, where: 'store' });
    expect((refused as Error).message).toBe(
      'session would be 65537 bytes of JSON, over the 65536-byte limit (maxSessionBytes); store less in the session or raise maxSessionBytes',
    );

    const small = create(memory(), { maxSessionBytes: 100 }).persistence;
    expect(() => small.assertFits(sized(100))).not.toThrow();
    expect(() => small.assertFits(sized(101))).toThrow(SessionTooLargeError);
  });

  it('with maxSessionBytes: false, never measures a session', () => {
    const { persistence } = create(memory(), { maxSessionBytes: false });
    const unmeasured: PersistedSession = {
      id: generateSessionId(),
      isNew: false,
      snapshot: () => expect.unreachable(),
      dataBytes: () => expect.unreachable(),
    };
    expect(() => persistence.assertFits(unmeasured)).not.toThrow();
  });

  it('turns every store failure into a SessionStoreUnavailableException, logged in aggregate', async () => {
    vi.useFakeTimers();
    try {
      const failing = new (class extends SessionStore {
        get = () => Promise.reject(new Error('ECONNREFUSED get'));
        write = () => Promise.reject(new Error('ECONNREFUSED write'));
        touch = () => Promise.reject(new Error('ECONNREFUSED touch'));
        destroy = () => Promise.reject(new Error('ECONNREFUSED destroy'));
      })();
      const { persistence, logger } = create(failing);
      const change: SessionWrite = { mode: 'update', set: new Map(), delete: [], clear: false, createdAt: 0, ttl: 1 };
      const lines = (): unknown[] => logger.error.mock.calls.map(([line]: unknown[]) => line);
      await expect(persistence.load('k')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      await expect(persistence.write('k', change)).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      await expect(persistence.load('k')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      await expect(persistence.touch('k', 1)).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      await expect(persistence.remove('k')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      // The first failure at once; the others counted, reported once per interval.
      expect(lines()).toEqual(['Session store load failed: ECONNREFUSED get (further failures are counted and reported every 10 s)']);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(lines()).toHaveLength(2);
      expect(lines()[1]).toBe(
        'Session store failed 4 more times in the last 10 s (write 1, load 1, touch 1, destroy 1); last: ECONNREFUSED destroy',
      );
      // A quiet interval ends the spell (and its timer); the next failure is logged at once.
      await vi.advanceTimersByTimeAsync(10_000);
      expect(vi.getTimerCount()).toBe(0);
      await expect(persistence.load('k')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      expect(lines()).toHaveLength(3);
      expect(lines()[2]).toMatch(/^Session store load failed: ECONNREFUSED get/);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('StorePersistence: the adoption window and destroy marks', () => {
  const IDLE_MS = 600_000;
  const SKEW_MS = 60_000;

  it('adopts an issued id within one idle timeout of its issue time, and marks its removal until then (plus skew)', () => {
    const { persistence } = create(memory(), { secret: SECRET, idleTimeout: IDLE_MS / 1000 });
    const options = resolveSessionOptions({ secret: SECRET, idleTimeout: IDLE_MS / 1000 });
    const issuedAt = Math.floor(T0 / 1000) * 1000;
    const id = options.ids.issue(T0);
    expect(persistence.issuedAt(id, T0)).toBe(issuedAt);
    expect(persistence.issuedAt(id, issuedAt + IDLE_MS - 1)).toBe(issuedAt);
    // A session first written at its issue time would have idled out by now: never revived.
    expect(persistence.issuedAt(id, issuedAt + IDLE_MS)).toBeUndefined();
    expect(persistence.markUntil(id, T0)).toBe(issuedAt + IDLE_MS + SKEW_MS);
    expect(persistence.markUntil(id, issuedAt + IDLE_MS + SKEW_MS)).toBeUndefined();
  });

  it('with a secret, an id it did not issue is never adopted and needs no mark', () => {
    const { persistence } = create(memory(), { secret: SECRET });
    const foreign = generateSessionId();
    expect(persistence.issuedAt(foreign, T0)).toBeUndefined();
    expect(persistence.markUntil(foreign, T0)).toBeUndefined();
  });

  it('without a secret, another process may have issued a well-formed id: its removal is marked for one window from now', () => {
    const { persistence } = create(memory(), { idleTimeout: IDLE_MS / 1000 });
    const foreign = generateSessionId();
    expect(persistence.issuedAt(foreign, T0)).toBeUndefined();
    expect(persistence.markUntil(foreign, T0)).toBe(T0 + IDLE_MS + SKEW_MS);
    expect(persistence.markUntil('not an id', T0)).toBeUndefined();
  });
});

describe('SealedCookiePersistence', () => {
  const id = generateSessionId();
  const sealed: SealedSession = { id, createdAt: T0, expiresAt: T0 + 60_000, data: { user: 'ada' } };

  it('decodes a cookie it sealed into the id and the record, ready to use', () => {
    const { persistence } = create(new CookieStore({ secret: SECRET }));
    const incoming = persistence.decode(persistence.cookieValue(persisted(sealed)), T0);
    expect(incoming).toMatchObject({ id, stale: false, record: { createdAt: T0, expiresAt: T0 + 60_000 } });
    expect(Object.fromEntries(incoming!.record!.data)).toEqual({ user: 'ada' });
  });

  it('marks a cookie sealed under an older secret stale, and ignores expired or foreign ones', () => {
    const { persistence, logger } = create(new CookieStore({ secret: [SECRET, OLD_SECRET] }));
    const old = new CookieSealer(OLD_SECRET).seal(sealed);
    expect(persistence.decode(old, T0)).toMatchObject({ id, stale: true });
    expect(persistence.decode(old, T0 + 60_000)).toBeUndefined();
    expect(persistence.decode(new CookieSealer('yet-another-secret-of-thirty-two-bytes').seal(sealed), T0)).toBeUndefined();
    expect(logger.debug).toHaveBeenCalledWith('Ignoring an invalid or expired sealed session cookie');
  });

  it('does no store I/O: writes, touches and removals succeed at once, and the record key is the id', async () => {
    const { persistence } = create(new CookieStore({ secret: SECRET }));
    const change: SessionWrite = { mode: 'update', set: new Map(), delete: [], clear: false, createdAt: 0, ttl: 1 };
    expect(persistence.recordKey(id)).toBe(id);
    expect(await persistence.write(id, change)).toBe(true);
    expect(await persistence.touch(id, 1)).toBe(true);
    expect(await persistence.remove(id)).toBeUndefined();
    expect(await persistence.load(id)).toBeUndefined();
  });

  it('sends the cookie only once a record exists, and whenever its expiry moves', () => {
    const { persistence } = create(new CookieStore({ secret: SECRET }));
    expect(persistence.cookieWithoutRecord).toBe(false);
    expect(persistence.cookieOnExtend).toBe(true);
  });

  it('refuses a session whose cookie line would be over 4096 bytes, and accepts one just under', () => {
    const { persistence } = create(new CookieStore({ secret: SECRET }));
    const sized = (length: number) => persisted({ ...sealed, data: { blob: 'x'.repeat(length) } });
    expect(() => persistence.assertFits(sized(2500))).not.toThrow();
    expect(() => persistence.assertFits(sized(3200))).toThrow(SessionTooLargeError);
    expect(() => persistence.assertFits(sized(3200))).toThrow(
      /^session cookie would be \d+ bytes, over the 4096-byte browser limit; store less in the session or use a server-side store$/,
    );
  });

  it('ignores maxSessionBytes: the cookie limit is the one that applies', () => {
    const { persistence } = create(new CookieStore({ secret: SECRET }), { maxSessionBytes: 10 });
    expect(() => persistence.assertFits(persisted({ ...sealed, data: { blob: 'x'.repeat(100) } }))).not.toThrow();
  });
});
