import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AppModule } from '../src/app.module.js';
import { cookieValue, setCookieFor } from './support/cookies.js';
import { PLATFORMS, startApp } from './support/platforms.js';

/** A session id of the right shape that no server minted: what an attacker plants. */
function plantedId(): string {
  return randomBytes(32).toString('base64url');
}

describe.each(PLATFORMS)('demo app on %s', (platform) => {
  let app: INestApplication;
  let server: ReturnType<INestApplication['getHttpServer']>;

  beforeAll(async () => {
    app = await startApp(platform, AppModule);
    server = app.getHttpServer();
  });
  afterAll(async () => {
    await app.close();
  });

  describe('Nova tutorial flow', () => {
    it('logs in, greets, shows the profile, logs out, and the old cookie reaches nothing', async () => {
      const browser = request.agent(server);

      const page = await browser.get('/login');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<form method="post" action="/login">');
      expect(page.text).not.toContain('Invalid username or password');

      const failed = await browser.post('/login').type('form').send({ username: 'alice', password: 'wrong' });
      expect(failed.status).toBe(401);
      expect(failed.headers['content-type']).toMatch(/^text\/html/);
      expect(failed.text).toContain('Invalid username or password');
      expect(failed.text).toContain('<form');

      const before = await browser.get('/');
      expect(before.status).toBe(302);
      expect(before.headers.location).toBe('/login');

      const login = await browser.post('/login').type('form').send({ username: 'alice', password: 'password' });
      expect(login.status).toBe(302);
      expect(login.headers.location).toBe('/');
      const sessionId = cookieValue(login);
      expect(sessionId).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const home = await browser.get('/');
      expect(home.status).toBe(200);
      expect(home.text).toBe('Hello alice');

      const profile = await browser.get('/profile').set('Accept', 'application/json');
      expect(profile.status).toBe(200);
      expect(profile.body).toEqual({ username: 'alice' });

      const logout = await browser.get('/logout');
      expect(logout.status).toBe(302);
      expect(logout.headers.location).toBe('/login');
      expect(setCookieFor(logout)).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/);

      const afterHome = await browser.get('/');
      expect(afterHome.status).toBe(302);
      expect(afterHome.headers.location).toBe('/login');

      const oldHome = await request(server).get('/').set('Cookie', `session_id=${sessionId}`);
      expect(oldHome.status).toBe(302);
      expect(oldHome.headers.location).toBe('/login');
      const oldProfile = await request(server).get('/profile').set('Cookie', `session_id=${sessionId}`).set('Accept', 'application/json');
      expect(oldProfile.status).toBe(401);
      expect(oldProfile.body).toMatchObject({ statusCode: 401 });
      expect(oldProfile.body.username).toBeUndefined();
    });

    it('accepts a JSON login body and answers JSON clients with JSON errors', async () => {
      const client = request.agent(server);
      const wrong = await client.post('/login').set('Accept', 'application/json').send({ username: 'bob', password: 'nope' });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toEqual({ statusCode: 401, message: 'Invalid username or password' });
      expect(setCookieFor(wrong)).toBeUndefined();

      const ok = await client.post('/login').send({ username: 'bob', password: 'password' });
      expect(ok.status).toBe(302);
      expect((await client.get('/profile')).body).toEqual({ username: 'bob' });
    });

    it('answers /profile without a session with 401, JSON for JSON clients and text otherwise', async () => {
      const json = await request(server).get('/profile').set('Accept', 'application/json');
      expect(json.status).toBe(401);
      expect(json.headers['content-type']).toMatch(/^application\/json/);
      expect(json.body).toEqual({
        statusCode: 401,
        message: 'Authentication required; please log in.',
        error: 'Unauthorized',
      });
      const text = await request(server).get('/profile').set('Accept', 'text/html');
      expect(text.status).toBe(401);
      expect(text.headers['content-type']).toMatch(/^text\/plain/);
      expect(text.text).toBe('Authentication required; please log in.\n');
    });

    it('serves /heartbeat publicly', async () => {
      const response = await request(server).get('/heartbeat');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'ok' });
    });

    it('escapes nothing into HTML: the greeting is plain text', async () => {
      const browser = request.agent(server);
      await browser.post('/login').type('form').send({ username: '<b>eve</b>', password: 'password' });
      const home = await browser.get('/');
      expect(home.headers['content-type']).toMatch(/^text\/plain/);
      expect(home.text).toBe('Hello <b>eve</b>');
    });
  });

  describe('session fixation', () => {
    it('never adopts a planted unknown id, and the planted id grants nothing', async () => {
      const planted = plantedId();
      const login = await request(server)
        .post('/login')
        .set('Cookie', `session_id=${planted}`)
        .type('form')
        .send({ username: 'victim', password: 'password' });
      expect(login.status).toBe(302);
      const issued = cookieValue(login);
      expect(issued).toBeDefined();
      expect(issued).not.toBe(planted);

      const victim = await request(server).get('/').set('Cookie', `session_id=${issued}`);
      expect(victim.text).toBe('Hello victim');

      const attacker = await request(server).get('/').set('Cookie', `session_id=${planted}`);
      expect(attacker.status).toBe(302);
      expect(attacker.headers.location).toBe('/login');
      const attackerProfile = await request(server)
        .get('/profile')
        .set('Cookie', `session_id=${planted}`)
        .set('Accept', 'application/json');
      expect(attackerProfile.status).toBe(401);
    });

    it('moves even a real, store-held planted session to a new id at login', async () => {
      // The attacker makes a genuine session first, then gets the victim to use its id.
      const attacker = request.agent(server);
      const init = await attacker.post('/counter/init');
      const planted = cookieValue(init);
      expect(planted).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const login = await request(server)
        .post('/login')
        .set('Cookie', `session_id=${planted}`)
        .type('form')
        .send({ username: 'victim', password: 'password' });
      expect(login.status).toBe(302);
      const issued = cookieValue(login);
      expect(issued).toBeDefined();
      expect(issued).not.toBe(planted);

      expect((await request(server).get('/').set('Cookie', `session_id=${issued}`)).text).toBe('Hello victim');
      const stolen = await attacker.get('/');
      expect(stolen.status).toBe(302);
      expect(stolen.headers.location).toBe('/login');
      const stolenProfile = await attacker.get('/profile').set('Accept', 'application/json');
      expect(stolenProfile.status).toBe(401);
    });
  });

  describe('bad login bodies', () => {
    const long = 'x'.repeat(100_000);
    const cases: Array<[string, object, RegExp]> = [
      ['an empty body', {}, /^username is required$/],
      ['a missing password', { username: 'alice' }, /^password is required$/],
      ['a number username', { username: 42, password: 'password' }, /^username must be a string$/],
      ['a boolean password', { username: 'alice', password: true }, /^password must be a string$/],
      ['an array username', { username: ['a', 'b'], password: 'password' }, /^username must be a string$/],
      ['an object username', { username: { $ne: '' }, password: 'password' }, /^username must be a string$/],
      ['a null username', { username: null, password: 'password' }, /^username must be a string$/],
      ['a 100 KB username', { username: long, password: 'password' }, /^username must be at most 64 characters$/],
      ['a 100 KB password', { username: 'alice', password: long }, /^password must be at most 256 characters$/],
      ['a control character', { username: 'al\nice', password: 'password' }, /control characters/],
    ];

    it.each(cases)('rejects %s (JSON) with a 400 and a clear message', async (_name, body, message) => {
      const response = await request(server).post('/login').set('Accept', 'application/json').send(body);
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(message);
      expect(setCookieFor(response)).toBeUndefined();
    });

    it('rejects repeated and bracketed form fields with a 400', async () => {
      const repeated = await request(server).post('/login').type('form').send('username=a&username=b&password=password');
      expect(repeated.status).toBe(400);
      expect(repeated.body.message).toBe('username must be a string');

      const bracketed = await request(server).post('/login').type('form').send('username[]=a&username[]=b&password=password');
      expect(bracketed.status).toBe(400);
      // Express's extended parser makes an array, Fastify's keeps the bracketed key.
      expect(bracketed.body.message).toMatch(/^username (must be a string|is required)$/);
    });

    it('rejects a 100 KB form field with a 400', async () => {
      const response = await request(server)
        .post('/login')
        .type('form')
        .send(`username=${'y'.repeat(100_000)}&password=password`);
      expect(response.status).toBe(400);
      expect(response.body.message).toBe('username must be at most 64 characters');
    });

    it('answers bodies that are not objects, malformed or oversized with a 4xx, never a 5xx', async () => {
      const bodies: Array<[string, string]> = [
        ['application/json', '[1,2,3]'],
        ['application/json', '"password"'],
        ['application/json', '{"username":'],
        ['application/json', '{"__proto__":{"password":"password"},"username":"a"}'],
        ['application/json', JSON.stringify({ username: 'z'.repeat(300_000), password: 'password' })],
        ['text/plain', 'username=a&password=password'],
      ];
      for (const [type, body] of bodies) {
        const response = await request(server).post('/login').set('Content-Type', type).send(body);
        expect(response.status, `${type} ${body.slice(0, 40)}`).toBeGreaterThanOrEqual(400);
        expect(response.status, `${type} ${body.slice(0, 40)}`).toBeLessThan(500);
        expect(setCookieFor(response)).toBeUndefined();
      }
    });

    it('keeps a logged-in session intact through a bad login attempt', async () => {
      const browser = request.agent(server);
      await browser.post('/login').type('form').send({ username: 'carol', password: 'password' });
      const bad = await browser.post('/login').send({ username: ['x'], password: 'password' });
      expect(bad.status).toBe(400);
      const wrong = await browser.post('/login').type('form').send({ username: 'mallory', password: 'x' });
      expect(wrong.status).toBe(401);
      const home = await browser.get('/');
      expect(home.status).toBe(200);
      expect(home.text).toBe('Hello carol');
    });
  });

  describe('Compas counter', () => {
    it('refuses increment before init, counts after it, and starts over after destroy', async () => {
      const client = request.agent(server);
      const early = await client.post('/counter/increment');
      expect(early.status).toBe(400);
      expect(early.body.message).toBe('Counter not initialised: POST /counter/init first');

      const init = await client.post('/counter/init').send({});
      expect(init.status).toBe(200);
      expect(init.body).toEqual({ counter: 0 });

      for (const expected of [1, 2, 3]) {
        const step = await client.post('/counter/increment');
        expect(step.status).toBe(200);
        expect(step.body).toEqual({ counter: expected });
      }

      // Another visitor has a counter of their own.
      const other = request.agent(server);
      expect((await other.post('/counter/increment')).status).toBe(400);
      await other.post('/counter/init').type('form').send('');
      expect((await other.post('/counter/increment')).body).toEqual({ counter: 1 });
      expect((await client.post('/counter/increment')).body).toEqual({ counter: 4 });

      const destroy = await client.post('/counter/destroy');
      expect(destroy.status).toBe(200);
      expect(destroy.body).toEqual({ destroyed: true });
      const after = await client.post('/counter/increment');
      expect(after.status).toBe(400);
      expect(after.body.message).toBe('Counter not initialised: POST /counter/init first');
    });
  });
});
