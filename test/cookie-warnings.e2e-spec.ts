/**
 * The two deployment warnings about Secure cookies, each logged once per application from the
 * first request that shows the mistake, and never for a setup that works.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { MemoryStore, type SessionCookieOptions } from '@novanest/session';
import { CapturedLogger, startAppWithLogger } from './support/captured-logger.js';
import { PLATFORMS } from './support/platforms.js';
import { sessionTestModule } from './support/session-test.controller.js';

const PLAIN_HTTP_WARNING =
  'session cookie has secure: true, but a request for "app.example.com" arrived over plain http: ' +
  "browsers drop Secure cookies sent over http away from localhost, so visitors get a new session on every request; serve the app over https (behind a TLS-terminating proxy, turn trust proxy on) or set cookie secure: 'auto'";
const PROXY_WARNING =
  "session cookie has secure: 'auto', and a request arrived with X-Forwarded-Proto: https while the platform sees plain http: " +
  "session cookies go out without Secure behind this TLS-terminating proxy; turn trust proxy on (Express: app.set('trust proxy', 1); Fastify: new FastifyAdapter({ trustProxy: true })) or set cookie secure: true";

describe.each(PLATFORMS)('Secure cookie warnings on %s', (platform) => {
  const apps: INestApplication[] = [];

  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  async function appWith(
    cookie: SessionCookieOptions,
    trustProxy = false,
  ): Promise<{ server: ReturnType<INestApplication['getHttpServer']>; logger: CapturedLogger }> {
    const logger = new CapturedLogger();
    const app = await startAppWithLogger(platform, sessionTestModule(new MemoryStore(), { cookie }), logger, { trustProxy });
    apps.push(app);
    return { server: app.getHttpServer(), logger };
  }

  it('secure: true over plain http to a public host name: one warning, however many requests', async () => {
    const { server, logger } = await appWith({ secure: true });
    for (let i = 0; i < 3; i++) {
      expect((await request(server).post('/set').set('Host', 'app.example.com').send({ key: 'a', value: i })).status).toBe(200);
    }
    expect(logger.sessionLines()).toEqual([{ level: 'warn', message: PLAIN_HTTP_WARNING, context: 'SessionModule' }]);
  });

  it.each([['localhost:3000'], ['127.0.0.1'], ['[::1]:8080'], ['shop.localhost']])(
    'secure: true over http to %s (loopback): nothing',
    async (host) => {
      const { server, logger } = await appWith({ secure: true });
      expect((await request(server).post('/set').set('Host', host).send({ key: 'a', value: 1 })).status).toBe(200);
      expect(logger.sessionLines()).toEqual([]);
    },
  );

  it('secure: true behind a TLS-terminating proxy (X-Forwarded-Proto: https): nothing, the browser saw https', async () => {
    const { server, logger } = await appWith({ secure: true });
    const response = await request(server)
      .post('/set')
      .set('Host', 'app.example.com')
      .set('X-Forwarded-Proto', 'https')
      .send({ key: 'a', value: 1 });
    expect(response.status).toBe(200);
    expect(logger.sessionLines()).toEqual([]);
  });

  it("secure: 'auto' with X-Forwarded-Proto: https and trust proxy off: one warning", async () => {
    const { server, logger } = await appWith({ secure: 'auto' });
    for (let i = 0; i < 3; i++) {
      const response = await request(server)
        .post('/set')
        .set('Host', 'app.example.com')
        .set('X-Forwarded-Proto', 'https')
        .send({ key: 'a', value: i });
      expect(response.status).toBe(200);
      // What the warning is about: the cookie went out without Secure.
      expect(response.headers['set-cookie']?.[0]).not.toMatch(/;\s*Secure/i);
    }
    expect(logger.sessionLines()).toEqual([{ level: 'warn', message: PROXY_WARNING, context: 'SessionModule' }]);
  });

  it("secure: 'auto' with X-Forwarded-Proto: https and trust proxy on: nothing, and the cookie is Secure", async () => {
    const { server, logger } = await appWith({ secure: 'auto' }, true);
    const response = await request(server)
      .post('/set')
      .set('Host', 'app.example.com')
      .set('X-Forwarded-Proto', 'https')
      .send({ key: 'a', value: 1 });
    expect(response.status).toBe(200);
    expect(response.headers['set-cookie']?.[0]).toMatch(/;\s*Secure/i);
    expect(logger.sessionLines()).toEqual([]);
  });

  it("secure: 'auto' over plain http without a proxy, and secure: false: nothing", async () => {
    for (const secure of ['auto', false] as const) {
      const { server, logger } = await appWith({ secure });
      expect((await request(server).post('/set').set('Host', 'app.example.com').send({ key: 'a', value: 1 })).status).toBe(200);
      expect(logger.sessionLines()).toEqual([]);
    }
  });
});
