/**
 * `Session` promises that values are copied: changing an object after `set`, or one returned
 * by `get`/`all`, changes nothing until it is `set` again.
 */
import type { Logger } from '@nestjs/common';
import { parseSetCookie } from 'cookie';
import { SessionCookieWriter } from '../cookie/session-cookie.js';
import { sessionStoreKey } from '../cookie/session-id.js';
import { createSessionPersistence } from '../persistence/session-persistence.factory.js';
import { SessionAlreadyCommittedError } from '../session.exceptions.js';
import { SessionHandle } from './session.handle.js';
import { resolveSessionOptions } from '../session-options.js';
import { MemoryStore } from '../stores/memory/memory.store.js';

function setup() {
  const store = new MemoryStore();
  const logger = { debug: vi.fn(), log: vi.fn(), warn: vi.fn(), error: vi.fn() } as unknown as Logger;
  const options = resolveSessionOptions();
  const cookies = new SessionCookieWriter(options);
  const deps = { persistence: createSessionPersistence(store, options, cookies, logger), options, logger, cookies };
  const open = (id?: string) => new SessionHandle(deps, id === undefined ? undefined : { id, stale: false }, () => false);
  return { store, open };
}

async function stored(store: MemoryStore, id: string): Promise<Record<string, unknown> | undefined> {
  const record = await store.get(sessionStoreKey(id));
  return record === undefined ? undefined : Object.fromEntries(record.data);
}

describe('SessionHandle: values handed out are copies', () => {
  let store: MemoryStore;
  afterEach(() => store.onApplicationShutdown());

  it('mutating what get returned after set does not change what is committed', async () => {
    const env = setup();
    store = env.store;
    const session = env.open(undefined);
    await session.set('cart', { items: ['apple'] });
    const cart = (await session.get('cart')) as { items: string[] };
    cart.items.push('pear');
    await session.finalize(200);
    const id = parseSetCookie(session.setCookieHeaders()[0]).value ?? '';
    expect(await stored(store, id)).toEqual({ cart: { items: ['apple'] } });
  });

  it('mutating what get returned does not change a later get in the same request', async () => {
    const env = setup();
    store = env.store;
    const first = env.open(undefined);
    await first.set('cart', { items: ['apple'] });
    await first.finalize(200);

    const session = env.open(first.id);
    const cart = (await session.get('cart')) as { items: string[] };
    cart.items.push('pear');
    expect(await session.get('cart')).toEqual({ items: ['apple'] });
  });

  it('mutating what all returned does not change what regenerate carries over', async () => {
    const env = setup();
    store = env.store;
    const first = env.open(undefined);
    await first.set('profile', { role: 'user' });
    await first.finalize(200);

    const session = env.open(first.id);
    const all = await session.all();
    (all.profile as { role: string }).role = 'admin';
    await session.regenerate();
    await session.finalize(200);
    expect(await stored(store, session.id)).toEqual({ profile: { role: 'user' } });
  });
});

describe('SessionHandle: changes after the commit', () => {
  it('are refused with a clear error instead of being lost', async () => {
    const env = setup();
    const session = env.open(undefined);
    await session.set('a', 1);
    await session.finalize(200);
    await expect(session.set('b', 2)).rejects.toThrow(
      'the session was already committed for this response; make session changes before the response is sent',
    );
    await expect(session.delete('a')).rejects.toThrow(SessionAlreadyCommittedError);
    await expect(session.destroy()).rejects.toThrow(SessionAlreadyCommittedError);
    // Reads stay allowed, and what was committed is intact.
    expect(await session.get('a')).toBe(1);
    const id = parseSetCookie(session.setCookieHeaders()[0]).value ?? '';
    expect(await stored(env.store, id)).toEqual({ a: 1 });
    env.store.onApplicationShutdown();
  });
});
