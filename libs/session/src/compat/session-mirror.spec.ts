import type { Logger } from '@nestjs/common';
import { SessionCookieWriter } from '../cookie/session-cookie.js';
import { generateSessionId, sessionStoreKey } from '../cookie/session-id.js';
import { createSessionPersistence } from '../persistence/session-persistence.factory.js';
import { FLASH_KEY, SessionHandle } from '../session/session.handle.js';
import { SessionValueError } from '../session.exceptions.js';
import { resolveSessionOptions } from '../session-options.js';
import { MemoryStore } from '../stores/memory/memory.store.js';
import type { SessionWrite } from '../stores/session.store.js';
import { SessionMirror } from './session-mirror.js';

/** A memory store that records the writes it is given. */
class RecordingStore extends MemoryStore {
  readonly writes: SessionWrite[] = [];

  override write(key: string, change: SessionWrite): Promise<boolean> {
    this.writes.push({ ...change, set: new Map(change.set), delete: [...change.delete] });
    return super.write(key, change);
  }
}

const stores: MemoryStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.onApplicationShutdown();
});

function setup() {
  const store = new RecordingStore();
  stores.push(store);
  const logger = { debug: vi.fn(), log: vi.fn(), warn: vi.fn(), error: vi.fn(), verbose: vi.fn(), fatal: vi.fn() };
  const options = resolveSessionOptions({});
  const cookies = new SessionCookieWriter(options);
  const deps = {
    persistence: createSessionPersistence(store, options, cookies, logger as unknown as Logger),
    options,
    logger: logger as unknown as Logger,
    cookies,
  };
  const open = (id?: string) => new SessionHandle(deps, id === undefined ? undefined : { id, stale: false }, () => false);
  /** A session already holding `data`, opened and mirrored as a request would. */
  const mirrored = async (data: Record<string, unknown>) => {
    const first = open();
    for (const [key, value] of Object.entries(data)) await first.set(key, value);
    await first.finalize(200);
    store.writes.length = 0;
    const handle = open(first.id);
    await handle.load();
    const mirror = new SessionMirror(
      handle,
      Object.create(null) as Record<string, unknown>,
      new Set([FLASH_KEY]),
      logger as unknown as Logger,
    );
    await mirror.fill();
    return { handle, mirror, data: mirror.data };
  };
  const stored = async (id: string) => Object.fromEntries((await store.get(sessionStoreKey(id)))?.data ?? []);
  return { store, logger, open, mirrored, stored };
}

describe('SessionMirror', () => {
  it('stages only the keys that changed, at the commit', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ a: 1, b: { c: 2 }, untouched: 'x' });
    data.a = 10;
    await handle.finalize(200);
    expect(env.store.writes).toHaveLength(1);
    expect([...env.store.writes[0].set]).toEqual([['a', 10]]);
    expect(env.store.writes[0].delete).toEqual([]);
    expect(await env.stored(handle.id)).toEqual({ a: 10, b: { c: 2 }, untouched: 'x' });
  });

  it('stages a change made in place to a nested object, and a removed key as a removal', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ passport: { user: 7 }, flash: { info: ['a'] } });
    delete (data.passport as Record<string, unknown>).user;
    (data.flash as { info: string[] }).info.push('b');
    delete data.flash;
    data.added = [1];
    await handle.finalize(200);
    expect(env.store.writes).toHaveLength(1);
    expect(Object.fromEntries(env.store.writes[0].set)).toEqual({ passport: {}, added: [1] });
    expect(env.store.writes[0].delete).toEqual(['flash']);
    expect(await env.stored(handle.id)).toEqual({ passport: {}, added: [1] });
  });

  it('a session read and left alone is not written', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ a: { deep: [1, 2] } });
    expect(data.a).toEqual({ deep: [1, 2] });
    await handle.finalize(200);
    expect(env.store.writes).toEqual([]);
  });

  it('a value that JSON cannot carry fails the commit: logged, and nothing of the request is written', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ a: {} });
    (data.a as Record<string, unknown>).when = new Date(0);
    data.b = 2;
    expect(handle.settleIfIdle(200)).toBe(false);
    await expect(handle.finalize(200)).rejects.toThrow(/session key "a" was not saved: .*Date/);
    expect(env.logger.error).toHaveBeenCalled();
    expect(String(env.logger.error.mock.calls[0][0])).toMatch(/session key "a" was not saved: .*Date/);
    expect(env.store.writes).toEqual([]);
    expect(await env.stored(handle.id)).toEqual({ a: {} });
  });

  it('sync() reports the keys it could not stage', async () => {
    const env = setup();
    const { mirror, data } = await env.mirrored({});
    data.fn = { f: () => 1 };
    const errors = mirror.sync();
    expect(errors).toHaveLength(1);
    expect(errors[0].cause).toBeInstanceOf(SessionValueError);
  });

  it('a 5xx response commits none of the changes', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ a: 1 });
    data.a = 2;
    await handle.finalize(500);
    expect(env.store.writes).toEqual([]);
    expect(await env.stored(handle.id)).toEqual({ a: 1 });
  });

  it('a detached mirror stages nothing', async () => {
    const env = setup();
    const { handle, mirror, data } = await env.mirrored({ a: 1 });
    mirror.detach();
    data.a = 2;
    await handle.finalize(200);
    expect(handle.beforeCommit).toBeUndefined();
    expect(await env.stored(handle.id)).toEqual({ a: 1 });
  });

  it('save() stages through the hook, so a later commit has nothing left to write', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ a: 1 });
    data.a = 2;
    await handle.save();
    expect(await env.stored(handle.id)).toEqual({ a: 2 });
    await handle.finalize(200);
    expect(env.store.writes).toHaveLength(1);
  });
});

describe('SessionMirror when the request renews, clears or ends the session natively', () => {
  it('regenerate({ keep: [] }): nothing changed through the mirror follows into the new session', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ cart: [1] });
    const oldId = handle.id;
    (data.cart as number[]).push(2);
    await handle.regenerate({ keep: [] });
    expect({ ...data }).toEqual({});
    await handle.set('username', 'alice');
    await handle.finalize(200);
    expect(handle.id).not.toBe(oldId);
    expect(await env.stored(handle.id)).toEqual({ username: 'alice' });
    expect(await env.store.get(sessionStoreKey(oldId))).toBeUndefined();
  });

  it('regenerate(): what changed through the mirror moves along, and later changes diff against the new session', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ cart: [1], other: 'x' });
    (data.cart as number[]).push(2);
    await handle.regenerate({ keep: ['cart'] });
    expect({ ...data }).toEqual({ cart: [1, 2] });
    data.note = 'after';
    await handle.finalize(200);
    expect(await env.stored(handle.id)).toEqual({ cart: [1, 2], note: 'after' });
  });

  it('destroy(): nothing changed through the mirror comes back, and the mirror is empty', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ passport: { user: 7 } });
    const oldId = handle.id;
    (data.passport as Record<string, unknown>).user = 8;
    await handle.destroy();
    expect({ ...data }).toEqual({});
    data.passport = { user: 9 };
    await handle.finalize(200);
    expect(await env.store.get(sessionStoreKey(oldId))).toBeUndefined();
    expect(env.store.writes).toEqual([]);
  });

  it('clear(): keys changed through the mirror before it stay cleared', async () => {
    const env = setup();
    const { handle, data } = await env.mirrored({ cart: [1], user: 'ann' });
    (data.cart as number[]).push(2);
    await handle.clear();
    expect({ ...data }).toEqual({});
    await handle.finalize(200);
    expect(await env.stored(handle.id)).toEqual({});
  });
});

describe('SessionHandle.stageNow', () => {
  it('refuses the flash key and values JSON cannot carry, staging nothing', async () => {
    const env = setup();
    const handle = env.open();
    await handle.load();
    expect(() => handle.stageNow(FLASH_KEY, 1)).toThrow(SessionValueError);
    expect(() => handle.stageNow('x', 10n)).toThrow(SessionValueError);
    await handle.finalize(200);
    expect(env.store.writes).toEqual([]);
  });

  it('removes a key when given undefined', async () => {
    const env = setup();
    const first = env.open(generateSessionId());
    await first.load();
    first.stageNow('a', 1);
    first.stageNow('b', 2);
    await first.finalize(200);
    const second = env.open(first.id);
    await second.load();
    second.stageNow('a', undefined);
    await second.finalize(200);
    expect(await env.stored(first.id)).toEqual({ b: 2 });
  });
});
