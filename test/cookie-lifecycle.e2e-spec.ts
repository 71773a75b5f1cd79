import { Controller, HttpCode, type INestApplication, Post } from '@nestjs/common';
import request from 'supertest';
import { CookieStore, MemoryStore, Session, type SessionModuleOptions, type SessionStore } from '@novanest/session';
import { cookieValue, setCookieFor, setCookies } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, type Platform, startApp } from './support/platforms.js';
import { sessionTestModule } from './support/session-test.controller.js';

const SECRET_A = 'a'.repeat(16) + '-first-secret-32-bytes!';
const SECRET_B = 'b'.repeat(16) + '-second-secret-32-bytes';
const T0 = new Date('2026-11-24T10:00:00Z').getTime();

/** The one route only this suite needs; the rest are the shared `SessionTestController`'s. */
@Controller()
class LifecycleController {
  @Post('drop')
  @HttpCode(200)
  async drop(@Session() session: Session) {
    await session.drop();
    await session.set('after', 'drop');
    return { ok: true };
  }
}

async function appWith(platform: Platform, store: SessionStore, options: SessionModuleOptions = {}) {
  return startApp(platform, sessionTestModule(store, options, LifecycleController), { trustProxy: true });
}

describe.each(PLATFORMS)('cookie lifecycle on %s', (platform) => {
  const apps: INestApplication[] = [];
  async function start(store: SessionStore, options: SessionModuleOptions = {}) {
    const app = await appWith(platform, store, options);
    apps.push(app);
    return app.getHttpServer();
  }
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  describe('cookie attributes, byte for byte', () => {
    it.each<[string, SessionModuleOptions, boolean, RegExp]>([
      ['defaults over HTTP', {}, false, /^session_id=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/],
      ['defaults over HTTPS', {}, true, /^session_id=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/],
      [
        'name, path, domain, strict',
        { cookie: { name: 'sid', path: '/app', domain: 'example.test', sameSite: 'strict' } },
        false,
        /^sid=[\w-]{43}; Domain=example\.test; Path=\/app; HttpOnly; SameSite=Strict$/,
      ],
      [
        'secure: true and sameSite none, even over HTTP',
        { cookie: { secure: true, sameSite: 'none' } },
        false,
        /^session_id=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=None$/,
      ],
      ['secure: false over HTTPS', { cookie: { secure: false } }, true, /^session_id=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/],
      ['httpOnly: false', { cookie: { httpOnly: false } }, false, /^session_id=[\w-]{43}; Path=\/; SameSite=Lax$/],
      [
        '__Host- prefix',
        { cookie: { name: '__Host-sid', secure: true } },
        true,
        /^__Host-sid=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
      ],
    ])('%s', async (_name, options, https, expected) => {
      const server = await start(new MemoryStore(), options);
      const call = request(server).get('/read');
      if (https) call.set('X-Forwarded-Proto', 'https');
      const lines = setCookies(await call.expect(200));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(expected);
    });

    it('persistent: Max-Age is the remaining lifetime, cut by the absolute timeout', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const server = await start(new MemoryStore(), {
        idleTimeout: 3600,
        absoluteTimeout: 5400,
        cookie: { persistent: true },
      });
      const agent = request.agent(server);
      const created = await agent.post('/set').send({ key: 'a', value: 1 }).expect(200);
      expect(setCookieFor(created)).toMatch(/^session_id=[\w-]{43}; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax$/);
      // 50 minutes later a read extends the idle timeout, but only to the absolute end (40 min left).
      vi.setSystemTime(T0 + 50 * 60_000);
      const touched = await agent.get('/read').expect(200);
      expect(setCookieFor(touched)).toMatch(/; Max-Age=2400; Path=\//);
    });

    it('destroy expires the cookie with the same Domain and Path', async () => {
      const server = await start(new MemoryStore(), { cookie: { path: '/app', domain: 'example.test' } });
      // The cookie is scoped to /app; supertest's jar would not send it to /destroy, so send it by hand.
      const created = await request(server).post('/set').send({ key: 'a', value: 1 }).expect(200);
      const id = cookieValue(created, 'session_id');
      const destroyed = await request(server).post('/destroy').set('Cookie', `session_id=${id}`).expect(200);
      expect(setCookies(destroyed)).toEqual([
        'session_id=; Max-Age=0; Domain=example.test; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
      ]);
    });

    it.each<[SessionModuleOptions, string]>([
      [{ renew: 1.5 }, 'session renew must be a number between 0 and 1'],
      [{ rolling: true, renew: 0.5 }, 'session rolling and renew cannot be combined'],
      [{ secret: 'too short' }, 'session secret must be at least 32 bytes'],
      [{ cookie: { name: 'a\r\nb' } }, 'is not a valid cookie name'],
      [{ cookie: { domain: 'bad domain' } }, 'is not a valid host name'],
      [{ cookie: { name: '__Secure-sid' } }, 'names starting with __Secure- require secure: true'],
      [{ cookie: { sameSite: 'none' } }, "sameSite 'none' requires secure: true"],
    ])('refuses %j at start-up', async (options, message) => {
      await expect(appWith(platform, new MemoryStore(), options)).rejects.toThrow(message);
    });
  });

  describe('rolling and renew', () => {
    /** Logs in at T0, then reads every 10 s for 2 minutes; returns how many reads got a Set-Cookie. */
    async function setCookieCount(options: SessionModuleOptions): Promise<{ sent: number; touches: number }> {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const store = new InstrumentedStore();
      const agent = request.agent(await start(store, { idleTimeout: 100, ...options }));
      await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      store.reset();
      let sent = 0;
      for (let t = 10_000; t <= 120_000; t += 10_000) {
        vi.setSystemTime(T0 + t);
        const response = await agent.get('/read').expect(200);
        expect(response.body.data).toEqual({ user: 'ada' });
        if (setCookieFor(response) !== undefined) sent++;
      }
      return { sent, touches: store.count('touch') };
    }

    it('by default a browser-session cookie is not re-sent; the idle timeout slides server-side', async () => {
      // idle 100 s: a touch is due once the expiry would move by 10 s.
      expect(await setCookieCount({})).toEqual({ sent: 0, touches: 12 });
    });

    it('rolling re-sends the cookie on every response that used the session', async () => {
      expect(await setCookieCount({ rolling: true })).toEqual({ sent: 12, touches: 12 });
    });

    it('renew re-sends it only when less than the given share of its life is left', async () => {
      // renew 0.5 of 100 s: renewed once more than 50 s have passed since the last extension,
      // i.e. at 60 s and 120 s.
      expect(await setCookieCount({ renew: 0.5 })).toEqual({ sent: 2, touches: 2 });
    });
  });

  describe('keepPublicCookie', () => {
    it('is set beside the session cookie, readable by scripts, refreshed with it and removed on destroy', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const server = await start(new MemoryStore(), { keepPublicCookie: true, idleTimeout: 600, cookie: { persistent: true } });
      const agent = request.agent(server);

      // A visitor without a session gets no public cookie: it would claim a session that does not exist.
      expect(setCookieFor(await agent.get('/read'), 'session_id.public')).toBeUndefined();

      const created = await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      expect(setCookieFor(created, 'session_id.public')).toBe('session_id.public=1; Max-Age=600; Path=/; SameSite=Lax');

      vi.setSystemTime(T0 + 120_000);
      const refreshed = await agent.get('/read').expect(200);
      expect(setCookieFor(refreshed)).toMatch(/; Max-Age=600;/);
      expect(setCookieFor(refreshed, 'session_id.public')).toBe('session_id.public=1; Max-Age=600; Path=/; SameSite=Lax');

      const destroyed = await agent.post('/destroy').expect(200);
      expect(setCookieFor(destroyed, 'session_id.public')).toBe(
        'session_id.public=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax',
      );
    });
  });

  describe('signed ids', () => {
    it('signs with the first secret, re-signs cookies signed with an older one, refuses others', async () => {
      const store = new InstrumentedStore();
      const oldApp = await start(store, { secret: SECRET_A });
      const rotatedApp = await start(store, { secret: [SECRET_B, SECRET_A] });
      const newOnlyApp = await start(store, { secret: SECRET_B });

      const created = await request(oldApp).post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      const signedOld = cookieValue(created) as string;
      expect(signedOld).toMatch(/^[\w-]{43}\.[\w-]{43}$/);
      const id = signedOld.split('.')[0];

      // The rotated app reads the old cookie and re-signs it under the new first secret.
      const rotated = await request(rotatedApp).get('/read').set('Cookie', `session_id=${signedOld}`).expect(200);
      expect(rotated.body).toEqual({ id, isNew: false, data: { user: 'ada' } });
      const signedNew = cookieValue(rotated) as string;
      expect(signedNew.split('.')[0]).toBe(id);
      expect(signedNew).not.toBe(signedOld);
      // Once re-signed it is not sent again.
      const again = await request(rotatedApp).get('/read').set('Cookie', `session_id=${signedNew}`).expect(200);
      expect(setCookies(again)).toEqual([]);

      // With the old secret removed, the old signature means a fresh session, with no store call.
      store.reset();
      const refused = await request(newOnlyApp).get('/read').set('Cookie', `session_id=${signedOld}`).expect(200);
      expect(refused.body.data).toEqual({});
      expect(refused.body.id).not.toBe(id);
      expect(store.count()).toBe(0);
    });

    it.each([
      ['an unsigned id', (signed: string) => signed.split('.')[0]],
      ['a flipped signature character', (signed: string) => signed.slice(0, -1) + (signed.endsWith('A') ? 'B' : 'A')],
      ['a swapped id', (signed: string) => `${'A'.repeat(43)}.${signed.split('.')[1]}`],
    ])('%s is refused without a store call', async (_name, tamper) => {
      const store = new InstrumentedStore();
      const server = await start(store, { secret: SECRET_A });
      const signed = cookieValue(await request(server).post('/set').send({ key: 'user', value: 'ada' })) as string;
      store.reset();
      const response = await request(server)
        .get('/read')
        .set('Cookie', `session_id=${tamper(signed)}`)
        .expect(200);
      expect(response.body.data).toEqual({});
      expect(store.count()).toBe(0);
    });
  });

  describe('flash and drop', () => {
    it('a flash message is readable on the next request only', async () => {
      const agent = request.agent(await start(new MemoryStore()));
      await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      const redirect = await agent.post('/flash').send({ message: 'Saved.' }).expect(302);
      expect(redirect.headers.location).toBe('/flash');
      expect((await agent.get('/flash')).body).toEqual({ notice: 'Saved.', data: { user: 'ada' } });
      expect((await agent.get('/flash')).body).toEqual({ notice: null, data: { user: 'ada' } });
    });

    it('a flash set by a new visitor creates the session that carries it', async () => {
      const agent = request.agent(await start(new MemoryStore()));
      await agent.post('/flash').send({ message: 'Welcome.' }).expect(302);
      expect((await agent.get('/flash')).body).toEqual({ notice: 'Welcome.', data: {} });
      expect((await agent.get('/flash')).body.notice).toBeNull();
    });

    it('drop removes the record, expires the cookie and ignores later changes in the request', async () => {
      const store = new InstrumentedStore();
      const agent = request.agent(await start(store));
      await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      expect(store.size).toBe(1);
      const dropped = await agent.post('/drop').expect(200);
      expect(setCookies(dropped)).toEqual([
        'session_id=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
      ]);
      expect(store.size).toBe(0);
    });
  });

  describe('CookieStore', () => {
    it('keeps the session in a sealed cookie: round trip, regenerate, destroy, no server state', async () => {
      const agent = request.agent(await start(new CookieStore({ secret: SECRET_A })));
      const fresh = await agent.get('/read').expect(200);
      // Nothing to carry yet, so no cookie.
      expect(setCookies(fresh)).toEqual([]);

      const created = await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      const token = cookieValue(created) as string;
      expect(token).toMatch(/^[\w-]{8}\.[\w-]+$/);
      expect(token).not.toContain('ada');
      const read = await agent.get('/read').expect(200);
      expect(read.body.data).toEqual({ user: 'ada' });
      expect(setCookies(read)).toEqual([]);

      const before = read.body.id as string;
      const regenerated = await agent.post('/regenerate').expect(200);
      expect(regenerated.body.id).not.toBe(before);
      expect((await agent.get('/read')).body).toEqual({ id: regenerated.body.id, isNew: false, data: { user: 'ada' } });

      const destroyed = await agent.post('/destroy').expect(200);
      expect(setCookieFor(destroyed)).toMatch(/^session_id=; Max-Age=0;/);
      expect((await agent.get('/read')).body.data).toEqual({});
    });

    it('20 parallel first writes from one new visitor: 20 sealed cookies of one key each, the browser keeps one (documented difference)', async () => {
      const server = await start(new CookieStore({ secret: SECRET_A }));
      // No cookie on the first response: a sealed session has nothing to carry yet, so there is
      // no issued id for parallel first writes to share, and each seals its own session.
      expect(setCookies(await request(server).get('/read').expect(200))).toEqual([]);
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          request(server)
            .post('/set')
            .send({ key: `k${i}`, value: i })
            .expect(200),
        ),
      );
      const tokens = responses.map((response) => cookieValue(response) as string);
      expect(new Set(tokens).size).toBe(20);
      const sessions = await Promise.all(
        tokens.map(async (token) => (await request(server).get('/read').set('Cookie', `session_id=${token}`)).body),
      );
      expect(new Set(sessions.map((session) => session.id)).size).toBe(20);
      sessions.forEach((session, i) => expect(session.data).toEqual({ [`k${i}`]: i }));
    });

    it('refuses a session over 4096 bytes at set with a clear error and loses nothing', async () => {
      const agent = request.agent(await start(new CookieStore({ secret: SECRET_A })));
      await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      const tooBig = await agent
        .post('/set')
        .send({ key: 'blob', value: 'x'.repeat(5000) })
        .expect(413);
      expect(tooBig.body.message).toMatch(
        /^session cookie would be \d+ bytes, over the 4096-byte browser limit; store less in the session or use a server-side store$/,
      );
      expect(setCookies(tooBig)).toEqual([]);
      expect((await agent.get('/read')).body.data).toEqual({ user: 'ada' });
      // Just under the limit still fits.
      await agent
        .post('/set')
        .send({ key: 'blob', value: 'x'.repeat(2500) })
        .expect(200);
      expect((await agent.get('/read')).body.data.blob).toHaveLength(2500);
    });

    it('rotates keys: an old-key cookie opens and is re-sealed; a removed key invalidates it', async () => {
      const oldApp = await start(new CookieStore({ secret: SECRET_A }));
      const rotatedApp = await start(new CookieStore({ secret: [SECRET_B, SECRET_A] }));
      const newOnlyApp = await start(new CookieStore({ secret: SECRET_B }));
      const oldToken = cookieValue(await request(oldApp).post('/set').send({ key: 'user', value: 'ada' })) as string;

      const rotated = await request(rotatedApp).get('/read').set('Cookie', `session_id=${oldToken}`).expect(200);
      expect(rotated.body.data).toEqual({ user: 'ada' });
      const resealed = cookieValue(rotated) as string;
      expect(resealed.split('.')[0]).not.toBe(oldToken.split('.')[0]);
      const opened = await request(newOnlyApp).get('/read').set('Cookie', `session_id=${resealed}`).expect(200);
      expect(opened.body.data).toEqual({ user: 'ada' });

      const refused = await request(newOnlyApp).get('/read').set('Cookie', `session_id=${oldToken}`).expect(200);
      expect(refused.body.data).toEqual({});
    });

    it('an active cookie session still ends at the absolute timeout: the client cannot extend it', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const server = await start(new CookieStore({ secret: SECRET_A }), { idleTimeout: 60, absoluteTimeout: 150 });
      const agent = request.agent(server);
      await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
      let resealed = 0;
      for (let t = 40_000; t < 150_000; t += 40_000) {
        vi.setSystemTime(T0 + t);
        const response = await agent.get('/read').expect(200);
        expect(response.body.data).toEqual({ user: 'ada' });
        // Each read moves the sealed expiry forward, so the cookie is re-sealed and re-sent.
        if (setCookieFor(response) !== undefined) resealed++;
      }
      expect(resealed).toBe(3);
      vi.setSystemTime(T0 + 150_000);
      expect((await agent.get('/read')).body.data).toEqual({});
    });

    it('a tampered or expired cookie means an anonymous session', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const server = await start(new CookieStore({ secret: SECRET_A }), { idleTimeout: 60 });
      const agent = request.agent(server);
      const token = cookieValue(await agent.post('/set').send({ key: 'user', value: 'ada' })) as string;
      const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);
      const tampered = await request(server).get('/read').set('Cookie', `session_id=${flipped}`).expect(200);
      expect(tampered.body.data).toEqual({});

      vi.setSystemTime(T0 + 61_000);
      expect((await agent.get('/read')).body.data).toEqual({});
    });
  });
});
