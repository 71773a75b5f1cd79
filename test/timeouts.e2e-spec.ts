import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { setCookies } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, startApp } from './support/platforms.js';
import { sessionTestModule } from './support/session-test.controller.js';

const store = new InstrumentedStore();

const TimeoutModule = sessionTestModule(store, { idleTimeout: 60, absoluteTimeout: 300 });

const start = new Date('2026-11-24T10:00:00Z').getTime();

describe.each(PLATFORMS)('server-side timeouts on %s', (platform) => {
  let app: INestApplication;

  beforeAll(async () => {
    app = await startApp(platform, TimeoutModule);
  });
  afterAll(() => app.close());
  beforeEach(() => {
    // Only the clock is faked: sockets and timers run for real.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function session() {
    const agent = request.agent(app.getHttpServer());
    await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
    return agent;
  }

  it('an idle session expires after idleTimeout; activity before that slides it', async () => {
    const agent = await session();
    vi.setSystemTime(start + 50_000);
    expect((await agent.get('/read')).body.data).toEqual({ user: 'ada' });
    // 50 s after the last activity: still alive because the read extended it.
    vi.setSystemTime(start + 100_000);
    expect((await agent.get('/read')).body.data).toEqual({ user: 'ada' });
    // 61 s of silence: gone.
    vi.setSystemTime(start + 161_000);
    expect((await agent.get('/read')).body.data).toEqual({});
  });

  it('an active session still ends at absoluteTimeout', async () => {
    const agent = await session();
    for (let t = 50_000; t < 300_000; t += 50_000) {
      vi.setSystemTime(start + t);
      expect((await agent.get('/read')).body.data).toEqual({ user: 'ada' });
    }
    vi.setSystemTime(start + 300_000);
    // The cookie carries only the id: the client holds nothing that could extend the session.
    const response = await agent.get('/read');
    expect(response.body.data).toEqual({});
    expect(setCookies(response)).toEqual([]);
  });
});
