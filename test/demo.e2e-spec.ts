/**
 * The demo app (src/) as a browser and a JSON client use it, on Express and on Fastify: every
 * page and route with each of its statuses, HTML for browsers and JSON for
 * `Accept: application/json` clients, and every refusal checked for changing nothing.
 * The same flows in a real Chromium: test/demo-browser.e2e-spec.ts.
 */
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AppModule } from '../src/app.module.js';
import { cookieValue, setCookieFor } from './support/cookies.js';
import { type Agent, jsonClient, loggedIn, tokenIn, usernameField, visitor } from './support/demo-client.js';
import { PLATFORMS, startApp } from './support/platforms.js';

/** A session id of the right shape that no server minted: what an attacker plants. */
function plantedId(): string {
  return randomBytes(32).toString('base64url');
}

const HTML = /^text\/html; charset=utf-8/;
const JSON_TYPE = /^application\/json/;
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36';

/** Who the agent's session belongs to: the username, or undefined when not logged in. */
async function whoIs(agent: Agent): Promise<string | undefined> {
  const response = await agent.get('/profile').set('Accept', 'application/json');
  return response.status === 200 ? (response.body as { username: string }).username : undefined;
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

  describe('login page and home page (browsers)', () => {
    it('GET /login: 200, an HTML form with a CSRF token, no message', async () => {
      const page = await request(server).get('/login').set('Accept', 'text/html');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(HTML);
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.text).toContain('<form method="post" action="/login">');
      expect(tokenIn(page)).toMatch(/^[A-Za-z0-9_-]{86}$/);
      expect(page.text).not.toContain('role="alert"');
      expect(page.text).not.toContain('role="status"');
    });

    it('a wrong password: 401, the form again with the error, the username kept, a token that still works', async () => {
      const { agent, token } = await visitor(server);
      const failed = await agent.post('/login').type('form').send({ _csrf: token, username: 'alice', password: 'wrong' });
      expect(failed.status).toBe(401);
      expect(failed.headers['content-type']).toMatch(HTML);
      expect(failed.text).toContain('<p class="flash error" role="alert">Invalid username or password</p>');
      expect(usernameField(failed)).toBe('alice');
      expect(await whoIs(agent)).toBeUndefined();

      const retry = await agent
        .post('/login')
        .type('form')
        .send({ _csrf: tokenIn(failed), username: 'alice', password: 'password' });
      expect(retry.status).toBe(302);
      expect(await whoIs(agent)).toBe('alice');
    });

    it('logs in, shows the home page (name, sessions link, logout button), logs out with the button; "Logged out" once; the old cookie reaches nothing', async () => {
      const { agent, token } = await visitor(server);
      const before = await agent.get('/').set('Accept', 'text/html');
      expect(before.status).toBe(302);
      expect(before.headers.location).toBe('/login');

      const login = await agent.post('/login').type('form').send({ _csrf: token, username: 'alice', password: 'password' });
      expect(login.status).toBe(302);
      expect(login.headers.location).toBe('/');
      const sessionId = cookieValue(login);
      expect(sessionId).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const home = await agent.get('/').set('Accept', 'text/html');
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toMatch(HTML);
      expect(home.text).toContain('<h1>Hello alice</h1>');
      expect(home.text).toContain('<a href="/sessions">');
      expect(home.text).toContain('<form method="post" action="/logout">');
      expect((await agent.get('/profile').set('Accept', 'application/json')).body).toEqual({ username: 'alice' });

      const logout = await agent
        .post('/logout')
        .type('form')
        .send({ _csrf: tokenIn(home) });
      expect(logout.status).toBe(303);
      expect(logout.headers.location).toBe('/login');
      // The flash lives in a new, empty session under a new id.
      expect(cookieValue(logout)).not.toBe(sessionId);

      const loginPage = await agent.get('/login').set('Accept', 'text/html');
      expect(loginPage.text).toContain('<p class="flash notice" role="status">Logged out</p>');
      const again = await agent.get('/login').set('Accept', 'text/html');
      expect(again.text).not.toContain('Logged out');

      expect((await agent.get('/')).status).toBe(302);
      const oldHome = await request(server).get('/').set('Cookie', `session_id=${sessionId}`).set('Accept', 'text/html');
      expect(oldHome.status).toBe(302);
      expect(oldHome.headers.location).toBe('/login');
      const oldProfile = await request(server).get('/profile').set('Cookie', `session_id=${sessionId}`).set('Accept', 'application/json');
      expect(oldProfile.status).toBe(401);
      expect(oldProfile.body.username).toBeUndefined();
    });

    it('GET /login when logged in already: 302 to the home page', async () => {
      const { agent } = await loggedIn(server, 'returning');
      const page = await agent.get('/login').set('Accept', 'text/html');
      expect(page.status).toBe(302);
      expect(page.headers.location).toBe('/');
    });

    it('GET /logout (the tutorial link) logs out too, with the same flash', async () => {
      const { agent } = await loggedIn(server, 'tutorial');
      const logout = await agent.get('/logout');
      expect(logout.status).toBe(302);
      expect(logout.headers.location).toBe('/login');
      expect(await whoIs(agent)).toBeUndefined();
      expect((await agent.get('/login')).text).toContain('Logged out');
    });

    it('one spelling per name: a decomposed "é" logs in as the precomposed one', async () => {
      const { agent } = await loggedIn(server, 'Jose\u0301');
      expect(await whoIs(agent)).toBe('Jos\u00e9');
    });

    it('trims the username, and escapes it on every page', async () => {
      const { agent } = await loggedIn(server, '  <b>eve</b> & co  ');
      expect(await whoIs(agent)).toBe('<b>eve</b> & co');
      const home = await agent.get('/').set('Accept', 'text/html');
      expect(home.text).toContain('<h1>Hello &lt;b&gt;eve&lt;/b&gt; &amp; co</h1>');
      expect(home.text).not.toContain('<b>eve</b>');
      const sessions = await agent.get('/sessions').set('Accept', 'text/html');
      expect(sessions.text).toContain('<strong>&lt;b&gt;eve&lt;/b&gt; &amp; co</strong>');
      expect(sessions.text).not.toContain('<b>eve</b>');

      const { agent: other, token } = await visitor(server);
      const failed = await other.post('/login').type('form').send({ _csrf: token, username: '"><script>x()</script>', password: 'no' });
      expect(failed.status).toBe(401);
      expect(failed.text).toContain('value="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"');
      expect(failed.text).not.toContain('<script>');
    });

    it('starts the logged-in session empty: nothing of the anonymous session follows', async () => {
      const { agent, token } = await visitor(server);
      expect((await agent.post('/counter/init').set('x-csrf-token', token)).body).toEqual({ counter: 0 });
      await agent.post('/login').type('form').send({ _csrf: token, username: 'fresh', password: 'password' });
      const home = await agent.get('/').set('Accept', 'text/html');
      const increment = await agent.post('/counter/increment').set('x-csrf-token', tokenIn(home)).set('Accept', 'application/json');
      expect(increment.status).toBe(400);
      expect(increment.body.message).toBe('Counter not initialised: POST /counter/init first');
    });
  });

  describe('JSON clients', () => {
    it('GET /csrf-token, a JSON login, GET / and /profile as JSON, JSON errors', async () => {
      const { agent, token } = await jsonClient(server);
      expect(token).toMatch(/^[A-Za-z0-9_-]{86}$/);
      const wrong = await agent.post('/login').set('x-csrf-token', token).send({ username: 'bob', password: 'nope' });
      expect(wrong.status).toBe(401);
      expect(wrong.headers['content-type']).toMatch(JSON_TYPE);
      expect(wrong.body).toEqual({ statusCode: 401, message: 'Invalid username or password' });

      const ok = await agent.post('/login').set('x-csrf-token', token).send({ username: 'bob', password: 'password' });
      expect(ok.status).toBe(302);
      const home = await agent.get('/');
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toMatch(JSON_TYPE);
      expect(home.body).toEqual({ username: 'bob' });
      expect((await agent.get('/profile')).body).toEqual({ username: 'bob' });

      // The login renewed the session's secret: the old token is refused, a fresh one works.
      const stale = await agent.post('/logout').set('x-csrf-token', token);
      expect(stale.status).toBe(403);
      expect(await whoIs(agent)).toBe('bob');
      const fresh = (await agent.get('/csrf-token')).body.token as string;
      const logout = await agent.post('/logout').set('x-csrf-token', fresh);
      expect(logout.status).toBe(200);
      expect(logout.body).toEqual({ loggedOut: true });
      expect(await whoIs(agent)).toBeUndefined();
    });

    it('GET / and /profile without a session: JSON 401', async () => {
      for (const path of ['/', '/profile']) {
        const response = await request(server).get(path).set('Accept', 'application/json');
        expect(response.status, path).toBe(401);
        expect(response.headers['content-type']).toMatch(JSON_TYPE);
        expect(response.body).toEqual({ statusCode: 401, message: 'Authentication required; please log in.', error: 'Unauthorized' });
      }
    });

    it('GET /profile without a session in a browser: an HTML 401 page with a login link', async () => {
      const page = await request(server).get('/profile').set('Accept', 'text/html');
      expect(page.status).toBe(401);
      expect(page.headers['content-type']).toMatch(HTML);
      expect(page.text).toContain('<h1>Please log in</h1>');
      expect(page.text).toContain('<a href="/login">Log in</a>');
    });

    it('serves /heartbeat publicly', async () => {
      const response = await request(server).get('/heartbeat');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: 'ok' });
    });
  });

  describe('CSRF: a POST without a valid token, or from another origin, is a 403 and changes nothing', () => {
    it('POST /login without a token: 403 (an HTML page for browsers, JSON for JSON clients), nobody logged in, no cookie', async () => {
      const page = await request(server)
        .post('/login')
        .set('Accept', 'text/html')
        .type('form')
        .send({ username: 'mallory', password: 'password' });
      expect(page.status).toBe(403);
      expect(page.headers['content-type']).toMatch(HTML);
      expect(page.text).toContain('<h1>Form expired</h1>');
      expect(setCookieFor(page)).toBeUndefined();

      const json = await request(server)
        .post('/login')
        .set('Accept', 'application/json')
        .send({ username: 'mallory', password: 'password' });
      expect(json.status).toBe(403);
      expect(json.body).toMatchObject({ statusCode: 403, message: expect.stringMatching(/^CSRF token missing/) });
      expect(setCookieFor(json)).toBeUndefined();
    });

    it("POST /login with another session's token, or with it in the query string only: 403, not logged in", async () => {
      const { token: othersToken } = await visitor(server);
      const { agent, token } = await visitor(server);
      const forged = await agent.post('/login').type('form').send({ _csrf: othersToken, username: 'mallory', password: 'password' });
      expect(forged.status).toBe(403);
      expect(forged.text).toContain('Form expired');
      const inQuery = await agent.post(`/login?_csrf=${token}`).type('form').send({ username: 'mallory', password: 'password' });
      expect(inQuery.status).toBe(403);
      expect(await whoIs(agent)).toBeUndefined();
    });

    it('a cross-origin POST with a valid token: 403 "Request refused", the user still logged in, the sessions untouched', async () => {
      const { agent, token } = await loggedIn(server, 'carol');
      const { agent: second } = await loggedIn(server, 'carol', FIREFOX);
      const crossOrigin = await agent.post('/logout').set('Origin', 'http://evil.example').type('form').send({ _csrf: token });
      expect(crossOrigin.status).toBe(403);
      expect(crossOrigin.headers['content-type']).toMatch(HTML);
      expect(crossOrigin.text).toContain('<h1>Request refused</h1>');
      const crossSite = await agent.post('/sessions/revoke-others').set('Sec-Fetch-Site', 'cross-site').type('form').send({ _csrf: token });
      expect(crossSite.status).toBe(403);
      const json = await agent
        .post('/logout')
        .set('Origin', 'http://evil.example')
        .set('Accept', 'application/json')
        .send({ _csrf: token });
      expect(json.status).toBe(403);
      expect(json.body.message).toMatch(/^Cross-origin request refused/);
      expect(await whoIs(agent)).toBe('carol');
      expect(await whoIs(second)).toBe('carol');

      // The same request from the page's own origin goes through.
      const own = await agent
        .post('/logout')
        .set('Origin', new URL(await app.getUrl()).origin.replace('[::1]', '127.0.0.1'))
        .type('form')
        .send({ _csrf: token });
      expect(own.status).toBe(303);
      expect(await whoIs(agent)).toBeUndefined();
    });

    it('every other POST needs the token too: logout, revoke, revoke-others, the counter', async () => {
      const { agent, token } = await loggedIn(server, 'dave');
      const { agent: second } = await loggedIn(server, 'dave', FIREFOX);
      const list = await agent.get('/sessions').set('Accept', 'application/json');
      const otherHandle = (list.body as Array<{ handle: string; current: boolean }>).find((session) => !session.current)?.handle;
      expect(otherHandle).toBeDefined();
      await agent.post('/counter/init').set('x-csrf-token', token);

      for (const path of [
        '/logout',
        `/sessions/${otherHandle}/revoke`,
        '/sessions/revoke-others',
        '/counter/increment',
        '/counter/destroy',
        '/counter/init',
      ]) {
        const response = await agent.post(path).set('Accept', 'application/json');
        expect(response.status, path).toBe(403);
        expect(response.body.message, path).toMatch(/^CSRF token missing/);
      }
      expect(await whoIs(agent)).toBe('dave');
      expect(await whoIs(second)).toBe('dave');
      expect((await agent.post('/counter/increment').set('x-csrf-token', token)).body).toEqual({ counter: 1 });
    });
  });

  describe('sessions page', () => {
    it('GET /sessions: each session with device, times, "This device"; JSON [{ handle, createdAt, lastSeenAt, userAgent, current }]', async () => {
      const { agent } = await loggedIn(server, 'erin', CHROME_MAC);
      const { agent: laptop } = await loggedIn(server, 'erin', FIREFOX);
      await loggedIn(server, 'someone-else', FIREFOX);

      const page = await agent.get('/sessions').set('Accept', 'text/html');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(HTML);
      expect(page.text).toContain('<h1>Your sessions</h1>');
      expect(page.text.match(/<tr data-handle=/g)).toHaveLength(2);
      expect(page.text).toContain('>Chrome on macOS</span>');
      expect(page.text).toContain('>Firefox on Linux</span>');
      expect(page.text.match(/This device/g)).toHaveLength(1);
      expect(page.text).toMatch(/<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time>/);
      expect(page.text).toContain('Log out this device</button>');
      expect(page.text).toContain('<form method="post" action="/sessions/revoke-others">');

      const json = await agent.get('/sessions').set('Accept', 'application/json');
      expect(json.status).toBe(200);
      expect(json.headers['content-type']).toMatch(JSON_TYPE);
      const sessions = json.body as Array<Record<string, unknown>>;
      expect(sessions).toHaveLength(2);
      for (const session of sessions) {
        expect(Object.keys(session).sort()).toEqual(['createdAt', 'current', 'handle', 'lastSeenAt', 'userAgent']);
        expect(session.handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
        expect(new Date(session.createdAt as string).toISOString()).toBe(session.createdAt);
        expect(Date.parse(session.lastSeenAt as string)).toBeGreaterThanOrEqual(Date.parse(session.createdAt as string));
      }
      expect(sessions.map((session) => [session.userAgent, session.current])).toEqual([
        [CHROME_MAC, true],
        [FIREFOX, false],
      ]);
      const fromLaptop = (await laptop.get('/sessions').set('Accept', 'application/json')).body as Array<{
        current: boolean;
        userAgent: string;
      }>;
      expect(fromLaptop.map((session) => session.current)).toEqual([false, true]);
    });

    it('POST /sessions/:handle/revoke: 303 back with a notice, and that device goes to the login page', async () => {
      const { agent, token } = await loggedIn(server, 'frank');
      const { agent: phone } = await loggedIn(server, 'frank', FIREFOX);
      const list = (await agent.get('/sessions').set('Accept', 'application/json')).body as Array<{ handle: string; current: boolean }>;
      const phoneHandle = list.find((session) => !session.current)?.handle ?? '';

      const revoke = await agent.post(`/sessions/${phoneHandle}/revoke`).type('form').send({ _csrf: token });
      expect(revoke.status).toBe(303);
      expect(revoke.headers.location).toBe('/sessions');
      const page = await agent.get('/sessions').set('Accept', 'text/html');
      expect(page.text).toContain('That device is logged out.');
      expect(page.text.match(/<tr data-handle=/g)).toHaveLength(1);

      const phoneHome = await phone.get('/').set('Accept', 'text/html');
      expect(phoneHome.status).toBe(302);
      expect(phoneHome.headers.location).toBe('/login');

      // Again: the session is gone. HTML: back with a notice; JSON: 404.
      const again = await agent.post(`/sessions/${phoneHandle}/revoke`).type('form').send({ _csrf: token });
      expect(again.status).toBe(303);
      expect((await agent.get('/sessions')).text).toContain('That session had already ended.');
      const json = await agent.post(`/sessions/${phoneHandle}/revoke`).set('Accept', 'application/json').set('x-csrf-token', token);
      expect(json.status).toBe(404);
      expect(json.body).toEqual({
        statusCode: 404,
        message: 'No session of yours has this handle (it may have ended already)',
        error: 'Not Found',
      });
    });

    it("JSON revoke: 200 { revoked: true }; another user's handle or a malformed one: 404 and nothing ended", async () => {
      const { agent, token } = await loggedIn(server, 'grace');
      const { agent: tablet } = await loggedIn(server, 'grace', FIREFOX);
      const { agent: stranger } = await loggedIn(server, 'heidi');
      const strangerHandle = ((await stranger.get('/sessions').set('Accept', 'application/json')).body as Array<{ handle: string }>)[0]
        .handle;

      const foreign = await agent.post(`/sessions/${strangerHandle}/revoke`).set('Accept', 'application/json').set('x-csrf-token', token);
      expect(foreign.status).toBe(404);
      const malformed = await agent.post('/sessions/not-a-handle/revoke').set('Accept', 'application/json').set('x-csrf-token', token);
      expect(malformed.status).toBe(404);
      expect(await whoIs(stranger)).toBe('heidi');

      const list = (await agent.get('/sessions').set('Accept', 'application/json')).body as Array<{ handle: string; current: boolean }>;
      const tabletHandle = list.find((session) => !session.current)?.handle ?? '';
      const revoked = await agent.post(`/sessions/${tabletHandle}/revoke`).set('Accept', 'application/json').set('x-csrf-token', token);
      expect(revoked.status).toBe(200);
      expect(revoked.body).toEqual({ revoked: true });
      expect(await whoIs(tablet)).toBeUndefined();
      expect(await whoIs(agent)).toBe('grace');
    });

    it('POST /sessions/revoke-others: every other device logged out, this one kept; HTML 303 with a count, JSON { revoked }', async () => {
      const { agent, token } = await loggedIn(server, 'ivan');
      const others = [await loggedIn(server, 'ivan', FIREFOX), await loggedIn(server, 'ivan', CHROME_MAC)];
      const page = await agent.post('/sessions/revoke-others').type('form').send({ _csrf: token });
      expect(page.status).toBe(303);
      expect(page.headers.location).toBe('/sessions');
      const after = await agent.get('/sessions').set('Accept', 'text/html');
      expect(after.text).toContain('Logged out 2 other sessions.');
      expect(after.text).toContain('You are not logged in anywhere else.');
      for (const other of others) expect(await whoIs(other.agent)).toBeUndefined();
      expect(await whoIs(agent)).toBe('ivan');

      await loggedIn(server, 'ivan', FIREFOX);
      const json = await agent.post('/sessions/revoke-others').set('Accept', 'application/json').set('x-csrf-token', token);
      expect(json.status).toBe(200);
      expect(json.body).toEqual({ revoked: 1 });
      expect((await agent.get('/sessions').set('Accept', 'application/json')).body).toHaveLength(1);
    });

    it('without a login: GET /sessions sends browsers to /login and gives JSON clients a 401; the POSTs do nothing', async () => {
      const page = await request(server).get('/sessions').set('Accept', 'text/html');
      expect(page.status).toBe(302);
      expect(page.headers.location).toBe('/login');
      const json = await request(server).get('/sessions').set('Accept', 'application/json');
      expect(json.status).toBe(401);
      expect(json.body.statusCode).toBe(401);

      const { agent, token } = await jsonClient(server);
      const revokeOthers = await agent.post('/sessions/revoke-others').set('x-csrf-token', token);
      expect(revokeOthers.status).toBe(401);
      const { agent: browser, token: browserToken } = await visitor(server);
      const revoke = await browser.post('/sessions/AAAAAAAAAAAAAAAAAAAAAA/revoke').type('form').send({ _csrf: browserToken });
      expect(revoke.status).toBe(302);
      expect(revoke.headers.location).toBe('/login');
    });
  });

  describe('page headers', () => {
    it('every page, error pages and the refused login form included, forbids framing, scripts and caching', async () => {
      const { agent, token } = await visitor(server);
      const pages = [
        await agent.get('/login').set('Accept', 'text/html'),
        await agent.post('/login').type('form').send({ _csrf: token, username: 'x', password: 'wrong' }),
        await agent.post('/login').type('form').send({ username: 'x', password: 'password' }),
        await request(server).get('/nowhere').set('Accept', 'text/html'),
        await request(server).get('/profile').set('Accept', 'text/html'),
      ];
      const { agent: user } = await loggedIn(server, 'framed');
      pages.push(await user.get('/').set('Accept', 'text/html'), await user.get('/sessions').set('Accept', 'text/html'));
      expect(pages.map((page) => page.status)).toEqual([200, 401, 403, 404, 401, 200, 200]);
      for (const page of pages) {
        expect(page.headers['content-type']).toMatch(HTML);
        expect(page.headers['content-security-policy']).toBe(
          "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
        expect(page.headers['x-frame-options']).toBe('DENY');
        expect(page.headers['x-content-type-options']).toBe('nosniff');
        expect(page.headers['cache-control']).toBe('no-store');
      }
    });
  });

  describe('error pages', () => {
    it('an unknown path: an HTML 404 page in browsers, a JSON 404 for JSON clients', async () => {
      const page = await request(server).get('/no/such/page?x=<y>').set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8');
      expect(page.status).toBe(404);
      expect(page.headers['content-type']).toMatch(HTML);
      expect(page.text).toContain('<h1>Page not found</h1>');
      expect(page.text).toContain('There is nothing at /no/such/page.');
      expect(page.text).toContain('<a href="/">Go to the home page</a>');

      const json = await request(server).get('/no/such/page').set('Accept', 'application/json');
      expect(json.status).toBe(404);
      expect(json.headers['content-type']).toMatch(JSON_TYPE);
      expect(json.body).toEqual({ statusCode: 404, message: 'Cannot GET /no/such/page', error: 'Not Found' });

      const escaped = await request(server).get('/%3Cscript%3Ealert(1)%3C%2Fscript%3E').set('Accept', 'text/html');
      expect(escaped.status).toBe(404);
      expect(escaped.text).not.toContain('<script>');
    });

    it("a signed-in visitor's 404 page shows who is signed in, with the logout button; a visitor's shows Log in", async () => {
      const { agent } = await loggedIn(server, 'wanderer');
      const page = await agent.get('/no/such/page').set('Accept', 'text/html');
      expect(page.status).toBe(404);
      expect(page.text).toContain('<h1>Page not found</h1>');
      expect(page.text).toContain('Signed in as <strong>wanderer</strong>');
      const token = tokenIn(page);
      // The logout button of that page works: its token is the session's.
      const logout = await agent.post('/logout').type('form').send({ _csrf: token });
      expect(logout.status).toBe(303);
      const anonymous = await request(server).get('/no/such/page').set('Accept', 'text/html');
      expect(anonymous.text).not.toContain('Signed in as');
      expect(anonymous.text).toContain('Log in');
    });
  });

  describe('session fixation', () => {
    it('never adopts a planted unknown id, and the planted id grants nothing', async () => {
      const planted = plantedId();
      const page = await request(server).get('/login').set('Cookie', `session_id=${planted}`);
      const issued = cookieValue(page);
      expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(issued).not.toBe(planted);
      const login = await request(server)
        .post('/login')
        .set('Cookie', `session_id=${issued}`)
        .type('form')
        .send({ _csrf: tokenIn(page), username: 'victim', password: 'password' });
      expect(login.status).toBe(302);
      const loggedInId = cookieValue(login);
      expect(loggedInId).toBeDefined();
      expect([planted, issued]).not.toContain(loggedInId);

      expect((await request(server).get('/profile').set('Cookie', `session_id=${loggedInId}`)).body).toEqual({ username: 'victim' });
      for (const id of [planted, issued]) {
        const attacker = await request(server).get('/').set('Cookie', `session_id=${id}`);
        expect(attacker.status).toBe(302);
        expect(attacker.headers.location).toBe('/login');
      }
    });

    it('moves even a real, store-held planted session to a new id at login', async () => {
      // The attacker makes a genuine session (and its token) first, then gets the victim to use both.
      const attacker = await visitor(server);
      const planted = (
        attacker.agent.jar.getCookie('session_id', { domain: '127.0.0.1', path: '/', secure: false, script: false }) ?? { value: undefined }
      ).value;
      expect(planted).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const login = await request(server)
        .post('/login')
        .set('Cookie', `session_id=${planted}`)
        .type('form')
        .send({ _csrf: attacker.token, username: 'victim', password: 'password' });
      expect(login.status).toBe(302);
      const issued = cookieValue(login);
      expect(issued).toBeDefined();
      expect(issued).not.toBe(planted);

      expect((await request(server).get('/profile').set('Cookie', `session_id=${issued}`)).body).toEqual({ username: 'victim' });
      const stolen = await attacker.agent.get('/');
      expect(stolen.status).toBe(302);
      expect(stolen.headers.location).toBe('/login');
      expect(await whoIs(attacker.agent)).toBeUndefined();
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
      ['a three-space username', { username: '   ', password: 'password' }, /^username is required$/],
      ['a lone-surrogate username', { username: 'ada\uD800', password: 'password' }, /^username must be valid Unicode text$/],
      ['a lone-surrogate password', { username: 'ada', password: '\uDC00password' }, /^password must be valid Unicode text$/],
      ['a 65-character username', { username: 'u'.repeat(65), password: 'password' }, /^username must be at most 64 characters$/],
      ['a 100 KB username', { username: long, password: 'password' }, /^username must be at most 64 characters$/],
      ['a 300-character password', { username: 'alice', password: 'p'.repeat(300) }, /^password must be at most 256 characters$/],
      ['a 100 KB password', { username: 'alice', password: long }, /^password must be at most 256 characters$/],
      ['a control character', { username: 'al\nice', password: 'password' }, /control characters/],
      ['a right-to-left override', { username: 'ali\u202Eecnis', password: 'password' }, /^username must not contain control characters$/],
      ['a zero-width space', { username: 'ad\u200Ba', password: 'password' }, /^username must not contain control characters$/],
    ];

    it.each(cases)('rejects %s (JSON) with a 400 and a clear message, logging nobody in', async (_name, body, message) => {
      const { agent, token } = await jsonClient(server);
      const response = await agent.post('/login').set('x-csrf-token', token).send(body);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(JSON_TYPE);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(response.body.message).toMatch(message);
      expect(setCookieFor(response)).toBeUndefined();
      expect(await whoIs(agent)).toBeUndefined();
    });

    it('a 300-character password from the form: a 400 page with the form, the message and the username kept', async () => {
      const { agent, token } = await visitor(server);
      const response = await agent
        .post('/login')
        .type('form')
        .send({ _csrf: token, username: 'alice', password: 'p'.repeat(300) });
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(HTML);
      expect(response.text).toContain('role="alert">password must be at most 256 characters</p>');
      expect(usernameField(response)).toBe('alice');
      expect(tokenIn(response)).toMatch(/^[A-Za-z0-9_-]{86}$/);
    });

    it('takes credentials from the body only: in the query string they count as missing', async () => {
      const { agent, token } = await jsonClient(server);
      const response = await agent.post('/login?username=alice&password=password').set('x-csrf-token', token).send({});
      expect(response.status).toBe(400);
      expect(response.body.message).toBe('username is required');
      const form = await agent.post('/login?password=password').set('x-csrf-token', token).type('form').send({ username: 'alice' });
      expect(form.status).toBe(400);
      expect(form.body.message).toBe('password is required');
      expect(await whoIs(agent)).toBeUndefined();
    });

    it('rejects repeated and bracketed form fields with a 400', async () => {
      const { agent, token } = await jsonClient(server);
      const repeated = await agent.post('/login').set('x-csrf-token', token).type('form').send('username=a&username=b&password=password');
      expect(repeated.status).toBe(400);
      expect(repeated.body.message).toBe('username must be a string');

      const bracketed = await agent
        .post('/login')
        .set('x-csrf-token', token)
        .type('form')
        .send('username[]=a&username[]=b&password=password');
      expect(bracketed.status).toBe(400);
      // Express's extended parser makes an array, Fastify's keeps the bracketed key.
      expect(bracketed.body.message).toMatch(/^username (must be a string|is required)$/);
    });

    it('rejects a 100 KB form field with a 400', async () => {
      const { agent, token } = await jsonClient(server);
      const response = await agent
        .post('/login')
        .set('x-csrf-token', token)
        .type('form')
        .send(`username=${'y'.repeat(100_000)}&password=password`);
      expect(response.status).toBe(400);
      expect(response.body.message).toBe('username must be at most 64 characters');
    });

    it('answers bodies that are not objects, malformed or oversized with a 4xx, never a 5xx', async () => {
      const { agent, token } = await jsonClient(server);
      const bodies: Array<[string, string]> = [
        ['application/json', '[1,2,3]'],
        ['application/json', '"password"'],
        ['application/json', '{"username":'],
        ['application/json', '{"__proto__":{"password":"password"},"username":"a"}'],
        ['application/json', JSON.stringify({ username: 'z'.repeat(300_000), password: 'password' })],
        ['application/json', '{"username":"\\ud800","password":"password"}'],
        ['text/plain', 'username=a&password=password'],
      ];
      for (const [type, body] of bodies) {
        const response = await agent.post('/login').set('x-csrf-token', token).set('Content-Type', type).send(body);
        expect(response.status, `${type} ${body.slice(0, 40)}`).toBeGreaterThanOrEqual(400);
        expect(response.status, `${type} ${body.slice(0, 40)}`).toBeLessThan(500);
      }
      expect(await whoIs(agent)).toBeUndefined();
    });

    it('keeps a logged-in session intact through a bad login attempt', async () => {
      const { agent, token } = await loggedIn(server, 'carol');
      const bad = await agent
        .post('/login')
        .set('x-csrf-token', token)
        .send({ username: ['x'], password: 'password' });
      expect(bad.status).toBe(400);
      const wrong = await agent.post('/login').type('form').send({ _csrf: token, username: 'mallory', password: 'x' });
      expect(wrong.status).toBe(401);
      const home = await agent.get('/').set('Accept', 'text/html');
      expect(home.status).toBe(200);
      expect(home.text).toContain('<h1>Hello carol</h1>');
    });
  });

  describe('Compas counter', () => {
    it('refuses increment before init, counts after it, and starts over after destroy', async () => {
      const { agent: client, token } = await jsonClient(server);
      const early = await client.post('/counter/increment').set('x-csrf-token', token);
      expect(early.status).toBe(400);
      expect(early.body.message).toBe('Counter not initialised: POST /counter/init first');

      const init = await client.post('/counter/init').set('x-csrf-token', token).send({});
      expect(init.status).toBe(200);
      expect(init.body).toEqual({ counter: 0 });

      for (const expected of [1, 2, 3]) {
        const step = await client.post('/counter/increment').set('x-csrf-token', token);
        expect(step.status).toBe(200);
        expect(step.body).toEqual({ counter: expected });
      }

      // Another visitor has a counter of their own.
      const { agent: other, token: otherToken } = await jsonClient(server);
      expect((await other.post('/counter/increment').set('x-csrf-token', otherToken)).status).toBe(400);
      await other.post('/counter/init').type('form').send({ _csrf: otherToken });
      expect((await other.post('/counter/increment').set('x-csrf-token', otherToken)).body).toEqual({ counter: 1 });
      expect((await client.post('/counter/increment').set('x-csrf-token', token)).body).toEqual({ counter: 4 });

      const destroy = await client.post('/counter/destroy').set('x-csrf-token', token);
      expect(destroy.status).toBe(200);
      expect(destroy.body).toEqual({ destroyed: true });
      const fresh = (await client.get('/csrf-token')).body.token as string;
      const after = await client.post('/counter/increment').set('x-csrf-token', fresh);
      expect(after.status).toBe(400);
      expect(after.body.message).toBe('Counter not initialised: POST /counter/init first');
    });
  });
});
