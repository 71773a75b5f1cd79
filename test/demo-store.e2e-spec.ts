import type { INestApplication } from '@nestjs/common';
import { CookieStore, MemoryStore } from '@novanest/session';
import { AppModule } from '../src/app.module.js';
import { StoreConnections, createSessionStore } from '../src/session-store.js';
import { loggedIn } from './support/demo-client.js';
import { PLATFORMS, startApp } from './support/platforms.js';

describe('the demo picks its store from SESSION_STORE', () => {
  const connections = new StoreConnections();
  afterAll(() => connections.onApplicationShutdown());

  it('memory by default, cookie with SESSION_SECRET', async () => {
    expect(await createSessionStore('memory', {}, connections)).toBeInstanceOf(MemoryStore);
    const secret = 's'.repeat(40);
    expect(await createSessionStore('cookie', { SESSION_SECRET: secret }, connections)).toBeInstanceOf(CookieStore);
  });

  it('caps the memory store at SESSION_MEMORY_MAX_ENTRIES sessions, and refuses anything but a positive integer', async () => {
    const store = (await createSessionStore('memory', { SESSION_MEMORY_MAX_ENTRIES: '3' }, connections)) as MemoryStore;
    try {
      const create = { mode: 'create', set: new Map([['a', 1]]), delete: [], clear: false, createdAt: Date.now(), ttl: 60_000 } as const;
      for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) await store.write(key, create);
      expect(store.size).toBe(3);
      expect(await store.get('k5')).toBeDefined();
      expect(await store.get('k2')).toBeUndefined();
    } finally {
      store.onApplicationShutdown();
    }
    for (const bad of ['0', '-5', '1.5', 'many', '1e3', ' 10']) {
      await expect(createSessionStore('memory', { SESSION_MEMORY_MAX_ENTRIES: bad }, connections)).rejects.toThrow(
        `SESSION_MEMORY_MAX_ENTRIES must be a positive integer (sessions held in memory), got ${JSON.stringify(bad)}`,
      );
    }
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

describe.each(PLATFORMS)('the demo on SESSION_STORE=cookie, on %s', (platform) => {
  let app: INestApplication;
  const saved = { store: process.env.SESSION_STORE, secret: process.env.SESSION_SECRET };

  beforeAll(async () => {
    process.env.SESSION_STORE = 'cookie';
    process.env.SESSION_SECRET = 'c'.repeat(40);
    app = await startApp(platform, AppModule);
  });
  afterAll(async () => {
    await app?.close();
    for (const [name, value] of [
      ['SESSION_STORE', saved.store],
      ['SESSION_SECRET', saved.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('logs in without a per-user index; /sessions shows this device only, and says why', async () => {
    const { agent } = await loggedIn(
      app.getHttpServer(),
      'crumb',
      'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
    );
    const page = await agent.get('/sessions').set('Accept', 'text/html');
    expect(page.status).toBe(200);
    expect(page.text).toContain('This store keeps no list of your sessions (SESSION_STORE=cookie), so only this device is shown.');
    expect(page.text.match(/<tr data-handle=/g)).toHaveLength(1);
    expect(page.text).toContain('>Firefox on Linux</span>');
    const json = await agent.get('/sessions').set('Accept', 'application/json');
    expect(json.body).toMatchObject([{ current: true, userAgent: expect.stringContaining('Firefox') }]);
  });
});
