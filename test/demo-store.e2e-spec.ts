import { CookieStore, MemoryStore } from '@novanest/session';
import { StoreConnections, createSessionStore } from '../src/session-store.js';

describe('the demo picks its store from SESSION_STORE', () => {
  const connections = new StoreConnections();
  afterAll(() => connections.onApplicationShutdown());

  it('memory by default, cookie with SESSION_SECRET', async () => {
    expect(await createSessionStore('memory', {}, connections)).toBeInstanceOf(MemoryStore);
    const secret = 's'.repeat(40);
    expect(await createSessionStore('cookie', { SESSION_SECRET: secret }, connections)).toBeInstanceOf(CookieStore);
  });

  it('refuses a cookie store without a secret, a short secret, and unknown stores, each with one sentence', async () => {
    await expect(createSessionStore('cookie', {}, connections)).rejects.toThrow(
      'SESSION_STORE=cookie needs SESSION_SECRET (at least 32 bytes; several comma-separated, newest first)',
    );
    await expect(createSessionStore('cookie', { SESSION_SECRET: 'short' }, connections)).rejects.toThrow(
      'session secret must be at least 32 bytes',
    );
    await expect(createSessionStore('mongodb://x', {}, connections)).rejects.toThrow(
      'SESSION_STORE must be memory, cookie, redis://host:port or postgres://user@host/db, got "mongodb://x"',
    );
  });
});
