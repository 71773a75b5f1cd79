/**
 * The demo in production (`NODE_ENV=production`): a `__Host-` cookie with `Secure`, and trust
 * proxy from TRUST_PROXY, booted as `npm start` boots it (src/demo-app.ts), on Express and
 * Fastify. Behind a TLS-terminating proxy the CSRF origin check needs trust proxy: without
 * it the app sees http:// while the browser says https://, and refuses the login.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { cookieFromEnv, trustProxyFromEnv } from '../src/demo-config.js';
import { createDemoApp } from '../src/demo-app.js';
import { setCookieFor } from './support/cookies.js';
import { tokenIn } from './support/demo-client.js';
import { PLATFORMS } from './support/platforms.js';

const COOKIE = '__Host-session_id';

/** Boots the demo with NODE_ENV=production for the duration of the app's start-up. */
async function startProduction(platform: string, trustProxy: string | undefined): Promise<INestApplication> {
  const before = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    const app = await createDemoApp({ PLATFORM: platform, TRUST_PROXY: trustProxy }, { logger: false });
    await app.listen(0, '127.0.0.1');
    return app;
  } finally {
    process.env.NODE_ENV = before;
  }
}

/** Logs in through a proxy that terminated TLS: forwarded https, the browser's https Origin. */
async function loginBehindProxy(app: INestApplication, accept = 'text/html'): Promise<{ page: request.Response; login: request.Response }> {
  const server = app.getHttpServer();
  const host = new URL(await app.getUrl()).host.replace('[::1]', '127.0.0.1');
  const page = await request(server).get('/login').set('Host', host).set('X-Forwarded-Proto', 'https');
  const cookie = setCookieFor(page, COOKIE)?.split(';')[0] ?? '';
  const login = await request(server)
    .post('/login')
    .set('Host', host)
    .set('X-Forwarded-Proto', 'https')
    .set('Origin', `https://${host}`)
    .set('Cookie', cookie)
    .set('Accept', accept)
    .type('form')
    .send({ _csrf: tokenIn(page), username: 'prod', password: 'password' });
  return { page, login };
}

describe.each(PLATFORMS)('demo in production on %s', (platform) => {
  it('NODE_ENV=production with TRUST_PROXY=true: a __Host- cookie, Secure, and a login through the proxy', async () => {
    const app = await startProduction(platform, 'true');
    try {
      const { page, login } = await loginBehindProxy(app);
      const line = setCookieFor(page, COOKIE);
      expect(line).toBeDefined();
      expect(line).toMatch(/; Secure/i);
      expect(line).toMatch(/; Path=\//i);
      expect(line).not.toMatch(/Domain=/i);
      expect(setCookieFor(page, 'session_id')).toBeUndefined();
      expect(login.status).toBe(302);
      expect(login.headers.location).toBe('/');
      expect(setCookieFor(login, COOKIE)).toMatch(/; Secure/i);
    } finally {
      await app.close();
    }
  });

  it('without TRUST_PROXY the proxied https login is refused as cross-origin (403), and says why', async () => {
    const app = await startProduction(platform, undefined);
    try {
      const { login } = await loginBehindProxy(app);
      expect(login.status).toBe(403);
      expect(login.text).toContain('Request refused');
      expect(setCookieFor(login, COOKIE)).toBeUndefined();
      // JSON clients (and whoever reads the logs of one) learn what to change.
      const json = await loginBehindProxy(app, 'application/json');
      expect(json.login.status).toBe(403);
      expect(json.login.body.message).toMatch(/^Cross-origin request refused: .*enable trust proxy/);
    } finally {
      await app.close();
    }
  });
});

describe('demo configuration from the environment', () => {
  it('the cookie: __Host-session_id and secure in production, session_id and auto elsewhere', () => {
    expect(cookieFromEnv({ NODE_ENV: 'production' })).toEqual({ name: '__Host-session_id', secure: true });
    expect(cookieFromEnv({})).toEqual({ name: 'session_id', secure: 'auto' });
    expect(cookieFromEnv({ NODE_ENV: 'development' })).toEqual({ name: 'session_id', secure: 'auto' });
  });

  it('TRUST_PROXY: off by default, true, a hop count, or proxy addresses; anything else is one sentence', () => {
    expect(trustProxyFromEnv({})).toBe(false);
    expect(trustProxyFromEnv({ TRUST_PROXY: '' })).toBe(false);
    expect(trustProxyFromEnv({ TRUST_PROXY: 'false' })).toBe(false);
    expect(trustProxyFromEnv({ TRUST_PROXY: 'true' })).toBe(true);
    expect(trustProxyFromEnv({ TRUST_PROXY: '2' })).toBe(2);
    expect(trustProxyFromEnv({ TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,::1' })).toEqual(['10.0.0.1', '192.168.0.0/16', '::1']);
    for (const bad of ['yes', 'loopback; rm', '10.0.0.1,']) {
      expect(() => trustProxyFromEnv({ TRUST_PROXY: bad })).toThrow(
        `TRUST_PROXY must be true, false, a number of proxy hops, or comma-separated proxy addresses (IPs or CIDR ranges, e.g. 10.0.0.0/8), got ${JSON.stringify(bad)}`,
      );
    }
  });
});
