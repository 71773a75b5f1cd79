import { Body, Controller, Get, HttpCode, type INestApplication, Logger, Module, Post, UseGuards } from '@nestjs/common';
import {
  CookieStore,
  MemoryStore,
  Security,
  type SecurityFn,
  SecurityRedirectException,
  Session,
  SessionAuthGuard,
  SessionModule,
  SessionStore,
  SessionValueError,
  redirectTo,
} from '@novanest/session';
import request from 'supertest';
import { cookieValue, setCookieFor } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, type Platform, startApp } from './support/platforms.js';

const COOKIE_SECRET = 'login-flash-e2e-cookie-store-secret-0123456789';

/** Made once, returned by every request: a frozen denial shared between requests. */
const PLEASE_LOG_IN = redirectTo('/login', { flash: { error: 'Please log in', from: { path: '/account' } } });

const sessionAuth: SecurityFn = async ({ session }) => ((await session.get('username')) ? true : PLEASE_LOG_IN);

/** Changes the session, then denies with a flash: only the flash may be committed. */
const writesThenRedirects: SecurityFn = async ({ session }) => {
  await session.set('counter', 999);
  await session.set('planted', 'by the denied request');
  await session.delete('cart');
  await session.flash('notice', 'from the denied request');
  throw redirectTo('/login', { status: 303, flash: { error: 'Session expired' } });
};

const clearsThenRedirects: SecurityFn = async ({ session }) => {
  await session.clear();
  return redirectTo('/login', { flash: { error: 'Cleared?' } });
};

const destroysThenRedirects: SecurityFn = async ({ session }) => {
  await session.destroy();
  return redirectTo('/login', { flash: { error: 'Gone' } });
};

/** A flash too large for a sealed cookie (4096 bytes). */
const BIG_FLASH = redirectTo('/login', { flash: { error: 'x'.repeat(5000) } });

const bindsThenRedirects: SecurityFn = async ({ session }) => {
  await session.bindUser('mallory');
  return redirectTo('/login', { flash: { error: 'Bound?' } });
};

const plainRedirect: SecurityFn = async ({ session }) => {
  await session.set('planted', 'by the denied request');
  return redirectTo('/login');
};

@Controller()
@UseGuards(SessionAuthGuard)
class LoginController {
  /** The page a denied request is sent to: shows the flash once. */
  @Get('login')
  @Security(false)
  async loginPage(@Session() session: Session) {
    return {
      error: (await session.getFlash('error')) ?? null,
      from: (await session.getFlash('from')) ?? null,
      notice: (await session.getFlash('notice')) ?? null,
    };
  }

  /** An anonymous visitor's cart and counter (what an attacker can plant before login). */
  @Post('anonymous')
  @HttpCode(200)
  @Security(false)
  async anonymous(@Session() session: Session, @Body() body: Record<string, unknown>) {
    for (const [key, value] of Object.entries(body)) await session.set(key, value);
    await session.load();
    return { id: session.id };
  }

  /** The login recipe: nothing of the anonymous session follows into the logged-in one. */
  @Post('login')
  @HttpCode(200)
  @Security(false)
  async login(@Session() session: Session) {
    await session.regenerate({ keep: [] });
    await session.set('username', 'ada');
    await session.flash('notice', 'Welcome back');
    return { id: session.id };
  }

  @Post('login-keep-cart')
  @HttpCode(200)
  @Security(false)
  async loginKeepCart(@Session() session: Session) {
    await session.regenerate({ keep: ['cart', 'not-there'] });
    await session.set('username', 'ada');
    return { id: session.id };
  }

  /** Plain `regenerate()`: the contract as before, every key moves. */
  @Post('login-keep-all')
  @HttpCode(200)
  @Security(false)
  async loginKeepAll(@Session() session: Session) {
    await session.regenerate();
    await session.set('username', 'ada');
    return { id: session.id };
  }

  @Post('login-bad-keep')
  @HttpCode(200)
  @Security(false)
  async loginBadKeep(@Session() session: Session) {
    try {
      await session.regenerate({ keep: 'cart' as unknown as string[] });
      return { refused: null };
    } catch (error) {
      return { refused: error instanceof SessionValueError ? error.message : String(error) };
    }
  }

  @Get('state')
  @Security(false)
  async state(@Session() session: Session) {
    return { all: await session.all() };
  }

  @Get('account')
  @Security(sessionAuth)
  account() {
    return { account: true };
  }

  @Post('write-then-redirect')
  @Security(writesThenRedirects)
  writeThenRedirect() {
    return { ran: true };
  }

  @Post('clear-then-redirect')
  @Security(clearsThenRedirects)
  clearThenRedirect() {
    return { ran: true };
  }

  @Post('destroy-then-redirect')
  @Security(destroysThenRedirects)
  destroyThenRedirect() {
    return { ran: true };
  }

  @Get('big-flash')
  @Security(() => BIG_FLASH)
  bigFlash() {
    return { ran: true };
  }

  @Post('bind-then-redirect')
  @Security(bindsThenRedirects)
  bindThenRedirect() {
    return { ran: true };
  }

  @Get('user')
  @Security(false)
  async user(@Session() session: Session) {
    await session.load();
    return { userId: session.userId ?? null };
  }

  @Post('plain-redirect')
  @Security(plainRedirect)
  plainRedirect() {
    return { ran: true };
  }
}

function loginModule(store: SessionStore) {
  @Module({ imports: [SessionModule.forRoot(store)], controllers: [LoginController] })
  class LoginModule {}
  return LoginModule;
}

describe('redirectTo(url, { flash })', () => {
  it('checks and freezes the flash when the redirect is made', () => {
    expect(PLEASE_LOG_IN).toBeInstanceOf(SecurityRedirectException);
    expect(PLEASE_LOG_IN.getStatus()).toBe(302);
    expect(PLEASE_LOG_IN.flash).toEqual({ error: 'Please log in', from: { path: '/account' } });
    expect(Object.isFrozen(PLEASE_LOG_IN.flash)).toBe(true);
    expect(redirectTo('/x', { status: 307 }).getStatus()).toBe(307);
    expect(redirectTo('/x', 303).flash).toBeUndefined();
    expect(() => redirectTo('/x', { flash: { when: new Date() } })).toThrow(SessionValueError);
    expect(() => redirectTo('/x', { flash: 'Please log in' as unknown as Record<string, unknown> })).toThrow(
      /redirectTo\(\): flash must be a plain object of messages/,
    );
    expect(() => redirectTo('/x', { status: 200, flash: {} })).toThrow(/status must be 301, 302, 303, 307 or 308/);
  });
});

describe.each(PLATFORMS)('login without carry-over on %s', (platform: Platform) => {
  let app: INestApplication;
  let server: ReturnType<INestApplication['getHttpServer']>;
  let store: InstrumentedStore;

  beforeAll(async () => {
    store = new InstrumentedStore();
    app = await startApp(platform, loginModule(store));
    server = app.getHttpServer();
  });
  afterAll(async () => {
    await app.close();
  });

  it('regenerate({ keep: [] }): a counter planted in the anonymous session does not follow into the logged-in one', async () => {
    const browser = request.agent(server);
    const anonymous = await browser.post('/anonymous').send({ counter: 41, cart: ['book'] });
    const anonymousCookie = cookieValue(anonymous);
    expect(anonymousCookie).toBeDefined();
    const login = await browser.post('/login');
    expect(login.status).toBe(200);
    expect(login.body.id).not.toBe(anonymous.body.id);
    // The flash the login request left moved along (read first: the next request spends it).
    expect((await browser.get('/login')).body.notice).toBe('Welcome back');
    expect((await browser.get('/state')).body.all).toEqual({ username: 'ada' });
    // The old id is dead.
    const old = await request(server).get('/state').set('Cookie', `session_id=${anonymousCookie}`);
    expect(old.body.all).toEqual({});
  });

  it('regenerate({ keep: [...] }) moves only the listed keys', async () => {
    const browser = request.agent(server);
    await browser.post('/anonymous').send({ counter: 41, cart: ['book'] });
    expect((await browser.post('/login-keep-cart')).status).toBe(200);
    expect((await browser.get('/state')).body.all).toEqual({ cart: ['book'], username: 'ada' });
  });

  it('regenerate() without options keeps every key, as before', async () => {
    const browser = request.agent(server);
    const anonymous = await browser.post('/anonymous').send({ counter: 41, cart: ['book'] });
    const login = await browser.post('/login-keep-all');
    expect(login.body.id).not.toBe(anonymous.body.id);
    expect((await browser.get('/state')).body.all).toEqual({ counter: 41, cart: ['book'], username: 'ada' });
  });

  it('regenerate({ keep }) with something other than an array of keys is refused before anything changes', async () => {
    const browser = request.agent(server);
    const anonymous = await browser.post('/anonymous').send({ counter: 1 });
    const refused = await browser.post('/login-bad-keep');
    expect(refused.body.refused).toBe('regenerate({ keep }) takes an array of session keys');
    expect(setCookieFor(refused)).toBeUndefined();
    const state = await browser.get('/state');
    expect(state.body.all).toEqual({ counter: 1 });
    expect(cookieValue(anonymous)).toBeDefined();
  });
});

describe.each(PLATFORMS.flatMap((platform) => (['memory', 'cookie'] as const).map((kind) => [platform, kind] as const)))(
  'a security redirect with a flash on %s (%s store)',
  (platform, kind) => {
    let app: INestApplication;
    let server: ReturnType<INestApplication['getHttpServer']>;

    beforeAll(async () => {
      const store = kind === 'memory' ? new MemoryStore() : new CookieStore({ secret: COOKIE_SECRET });
      app = await startApp(platform, loginModule(store));
      server = app.getHttpServer();
    });
    afterAll(async () => {
      await app.close();
    });

    it('a new visitor sent to /login reads the flash there once', async () => {
      const browser = request.agent(server);
      const denied = await browser.get('/account');
      expect(denied.status).toBe(302);
      expect(denied.headers.location).toBe('/login');
      // The flash is committed: the visitor gets the cookie that carries it.
      expect(cookieValue(denied)).toBeDefined();
      expect((await browser.get('/login')).body).toEqual({ error: 'Please log in', from: { path: '/account' }, notice: null });
      expect((await browser.get('/login')).body).toEqual({ error: null, from: null, notice: null });
      // The shared, frozen denial serves the next visitor the same way.
      const next = request.agent(server);
      expect((await next.get('/account')).status).toBe(302);
      expect((await next.get('/login')).body.error).toBe('Please log in');
    });

    it('only the flash is committed: what the security function changed is dropped', async () => {
      const browser = request.agent(server);
      await browser.post('/anonymous').send({ counter: 1, cart: ['book'] });
      const denied = await browser.post('/write-then-redirect');
      expect(denied.status).toBe(303);
      expect(denied.headers.location).toBe('/login');
      expect((await browser.get('/login')).body).toEqual({ error: 'Session expired', from: null, notice: null });
      expect((await browser.get('/state')).body.all).toEqual({ counter: 1, cart: ['book'] });
    });

    it('a clear() before the redirect is dropped too', async () => {
      const browser = request.agent(server);
      await browser.post('/anonymous').send({ counter: 7 });
      expect((await browser.post('/clear-then-redirect')).status).toBe(302);
      expect((await browser.get('/login')).body.error).toBe('Cleared?');
      expect((await browser.get('/state')).body.all).toEqual({ counter: 7 });
    });

    it('a session destroyed before the redirect keeps nothing, the flash included, as any denial', async () => {
      const browser = request.agent(server);
      await browser.post('/anonymous').send({ counter: 7 });
      const denied = await browser.post('/destroy-then-redirect');
      expect(denied.status).toBe(302);
      expect(setCookieFor(denied)).toBeUndefined();
      expect((await browser.get('/login')).body.error).toBeNull();
      expect((await browser.get('/state')).body.all).toEqual({ counter: 7 });
    });

    it('a flash the cookie store cannot carry leaves the redirect as it is, with a warning (and the memory store keeps it)', async () => {
      const warnings = vi.spyOn(Logger.prototype, 'warn');
      try {
        const browser = request.agent(server);
        const denied = await browser.get('/big-flash');
        expect(denied.status).toBe(302);
        expect(denied.headers.location).toBe('/login');
        const page = await browser.get('/login');
        if (kind === 'cookie') {
          expect(setCookieFor(denied)).toBeUndefined();
          expect(page.body.error).toBeNull();
          expect(warnings).toHaveBeenCalledWith(
            expect.stringMatching(/^The flash of a redirect to \/login was not kept: session cookie would be \d+ bytes/),
          );
        } else {
          expect(page.body.error).toHaveLength(5000);
          expect(warnings).not.toHaveBeenCalled();
        }
      } finally {
        warnings.mockRestore();
      }
    });

    it('a redirect without a flash still commits nothing and sends no cookie', async () => {
      const browser = request.agent(server);
      await browser.post('/anonymous').send({ counter: 3 });
      const denied = await browser.post('/plain-redirect');
      expect(denied.status).toBe(302);
      expect(setCookieFor(denied)).toBeUndefined();
      expect((await browser.get('/state')).body.all).toEqual({ counter: 3 });
    });
  },
);

describe.each(PLATFORMS)('a security redirect with a flash after bindUser on %s', (platform) => {
  it('a session bound in the denied request is not taken apart: nothing is committed, the flash included', async () => {
    const app = await startApp(platform, loginModule(new MemoryStore()));
    try {
      const browser = request.agent(app.getHttpServer());
      await browser.post('/anonymous').send({ counter: 2 });
      const denied = await browser.post('/bind-then-redirect');
      expect(denied.status).toBe(302);
      expect(setCookieFor(denied)).toBeUndefined();
      expect((await browser.get('/login')).body.error).toBeNull();
      expect((await browser.get('/user')).body.userId).toBeNull();
      expect((await browser.get('/state')).body.all).toEqual({ counter: 2 });
    } finally {
      await app.close();
    }
  });
});
