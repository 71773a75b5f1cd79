import type { IncomingMessage } from 'node:http';
import { sessionStoreKey } from '../cookie/session-id.js';
import { SessionManager } from '../request/session.manager.js';
import { SessionsDisabledError } from '../session.exceptions.js';
import type { SessionModuleOptions } from '../session-options.interface.js';
import { resolveSessionOptions } from '../session-options.js';
import { MemoryStore } from '../stores/memory/memory.store.js';
import { bindHandshake, handshakeOf } from './socket-handshake.js';
import { WsSessionError } from './ws-session.exceptions.js';

/** A `ws` client as far as the module reads it; it keeps no handshake request. */
function wsClient(): object {
  return { readyState: 1, send: () => undefined, close: () => undefined };
}

function handshakeRequest(cookie?: string): IncomingMessage {
  return { headers: cookie === undefined ? {} : { cookie }, url: '/' } as IncomingMessage;
}

describe('the session of a socket', () => {
  let store: MemoryStore;
  let manager: SessionManager;

  function setUp(options: SessionModuleOptions = {}): void {
    store = new MemoryStore();
    manager = new SessionManager(resolveSessionOptions(options), store);
  }

  /** A session written the way an HTTP request would leave it; answers its cookie header. */
  async function existingSession(data: Record<string, unknown>): Promise<string> {
    const socket = bindHandshake(manager, wsClient(), handshakeRequest()).newSession();
    // A socket cannot create one, so write the record directly under a fresh id.
    const id = socket.id;
    await store.write(sessionStoreKey(id), {
      mode: 'create',
      set: new Map(Object.entries(data)),
      delete: [],
      clear: false,
      createdAt: Date.now(),
      ttl: 60_000,
    });
    return `session_id=${id}`;
  }

  beforeEach(() => setUp());
  afterEach(() => store.onApplicationShutdown());

  it('a ws client nobody bound has no session, and the error says where to bind it', () => {
    expect(() => handshakeOf(wsClient(), manager)).toThrow(WsSessionError);
    expect(() => handshakeOf(wsClient(), manager)).toThrow('handleConnection(client, request)');
  });

  it('a socket.io client is bound from its own request', async () => {
    const cookie = await existingSession({ user: 'ann' });
    const client = { request: handshakeRequest(cookie), emit: () => undefined, disconnect: () => undefined };
    expect(await handshakeOf(client, manager).newSession().get('user')).toBe('ann');
  });

  it('set() without a stored session fails with WsSessionError and writes nothing', async () => {
    const session = bindHandshake(manager, wsClient(), handshakeRequest()).newSession();
    await expect(session.set('user', 'mallory')).rejects.toThrow(WsSessionError);
    await expect(session.flash('notice', 'hi')).rejects.toThrow('only an HTTP response can send');
    await session.save();
    expect(store.size).toBe(0);
  });

  it('update() and increment() are written at once (no save), count every concurrent message, and end on a destroyed session', async () => {
    const client = wsClient();
    bindHandshake(manager, client, handshakeRequest(await existingSession({ user: 'ann', count: 0 })));
    const messages = Array.from({ length: 20 }, () => handshakeOf(client).newSession());
    const counts = await Promise.all(messages.map((session) => session.increment('count')));
    expect([...counts].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await handshakeOf(client).newSession().get('count')).toBe(20);
    expect(
      await handshakeOf(client)
        .newSession()
        .update<string>('user', (user) => `${user}!`),
    ).toBe('ann!');

    const late = handshakeOf(client).newSession();
    await late.load();
    const logout = handshakeOf(client).newSession();
    await logout.destroy();
    await expect(late.increment('count')).rejects.toThrow(WsSessionError);
    expect(store.size).toBe(0);
  });

  it('update() without a stored session fails with WsSessionError and writes nothing', async () => {
    const session = bindHandshake(manager, wsClient(), handshakeRequest()).newSession();
    await expect(session.increment('count')).rejects.toThrow(WsSessionError);
    expect(store.size).toBe(0);
  });

  it('delete() and clear() without a stored session change nothing and do not throw', async () => {
    const session = bindHandshake(manager, wsClient(), handshakeRequest(`session_id=${'B'.repeat(43)}`)).newSession();
    await session.delete('user');
    await session.clear();
    await session.save();
    expect(store.size).toBe(0);
  });

  it('each handle reads the store as it is now; unsaved changes of one are not seen by the next', async () => {
    const client = wsClient();
    bindHandshake(manager, client, handshakeRequest(await existingSession({ user: 'ann', count: 1 })));
    const first = handshakeOf(client).newSession();
    await first.set('count', 2);
    expect(await handshakeOf(client).newSession().get('count')).toBe(1);
    await first.save();
    expect(await handshakeOf(client).newSession().get('count')).toBe(2);
  });

  it('after destroy() the socket cannot write again', async () => {
    const client = wsClient();
    bindHandshake(manager, client, handshakeRequest(await existingSession({ user: 'ann' })));
    const session = handshakeOf(client).newSession();
    await session.destroy();
    expect(store.size).toBe(0);
    await expect(session.set('user', 'ann')).rejects.toThrow(WsSessionError);
    await expect(handshakeOf(client).newSession().get('user')).resolves.toBeUndefined();
  });

  it('with sessions disabled, a socket session call throws SessionsDisabledError', () => {
    setUp({ enabled: false });
    const handshake = bindHandshake(manager, wsClient(), handshakeRequest('session_id=x'));
    expect(() => handshake.newSession()).toThrow(SessionsDisabledError);
  });
});
