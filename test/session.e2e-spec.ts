import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  InternalServerErrorException,
  type INestApplication,
  Module,
  Post,
  Redirect,
  Req,
  Res,
} from '@nestjs/common';
import request from 'supertest';
import { MemoryStore, Session, SessionModule, SessionService, SessionStore, SessionValueError } from '@novanest/session';
import { cookieValue, setCookieFor, setCookies } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, type Platform, startApp } from './support/platforms.js';
import { SessionTestController, sessionTestModule } from './support/session-test.controller.js';

const ID = /^[A-Za-z0-9_-]{43}$/;

@Controller()
class SessionController {
  constructor(private readonly sessions: SessionService) {}

  @Post('ignore')
  @HttpCode(200)
  async ignore(@Session() session: Session) {
    await session.set('ignored', true);
    session.ignoreChanges();
    return { ok: true };
  }

  @Post('set-then-redirect-decorator')
  @Redirect('/read', 302)
  async setThenRedirectDecorator(@Session() session: Session) {
    await session.set('via', 'decorator');
  }

  @Post('set-then-return-redirect')
  @Redirect()
  async setThenReturnRedirect(@Session() session: Session) {
    await session.set('via', 'return');
    return { url: '/read', statusCode: 303 };
  }

  @Post('set-then-res-redirect')
  async setThenResRedirect(@Session() session: Session, @Res() res: unknown) {
    await session.set('via', 'res');
    redirect(res, '/read');
  }

  @Post('set-then-res-500')
  async setThenRes500(@Session() session: Session, @Res() res: unknown) {
    await session.set('doomed', true);
    const response = res as {
      raw?: unknown;
      status?(code: number): typeof response;
      code?(code: number): typeof response;
      send(body: unknown): void;
    };
    const withStatus = response.raw !== undefined ? response.code!(500) : response.status!(500);
    withStatus.send({ message: 'handler wrote its own 500' });
  }

  @Post('set-then-500')
  async setThen500(@Session() session: Session) {
    await session.set('doomed', true);
    throw new InternalServerErrorException('handler failed');
  }

  @Post('set-then-crash')
  async setThenCrash(@Session() session: Session) {
    await session.set('doomed', true);
    throw new Error('unexpected');
  }

  @Post('set-then-400')
  async setThen400(@Session() session: Session) {
    await session.set('kept', true);
    throw new BadRequestException('bad input, but the session change stands');
  }

  @Post('set-bad-value')
  @HttpCode(200)
  async setBadValue(@Session() session: Session, @Body() body: { kind: string }) {
    await session.set('good', 'staged before the bad value');
    const bad: Record<string, unknown> = {
      function: () => 1,
      bigint: BigInt(1),
      cycle: (() => {
        const value: Record<string, unknown> = {};
        value.self = value;
        return { nested: value };
      })(),
    };
    try {
      await session.set('bad', bad[body.kind]);
    } catch (error) {
      if (error instanceof SessionValueError) {
        session.ignoreChanges();
        throw new BadRequestException(error.message);
      }
      throw error;
    }
    return { stored: true };
  }

  @Post('service/set')
  @HttpCode(200)
  async serviceSet(@Req() req: object, @Body() body: { key: string; value: unknown }) {
    await this.sessions.set(req, body.key, body.value);
    return { value: await this.sessions.get(req, body.key) };
  }

  @Post('service/delete-key')
  @HttpCode(200)
  async serviceDeleteKey(@Req() req: object, @Body() body: { key: string }) {
    await this.sessions.delete(req, body.key);
    return { ok: true };
  }

  @Post('service/delete')
  @HttpCode(200)
  async serviceDelete(@Req() req: object) {
    await this.sessions.delete(req);
    return { ok: true };
  }
}

/** `@Res()` redirect on either platform: Express's `res.redirect`, Fastify's `reply.redirect`. */
function redirect(res: unknown, url: string): void {
  const response = res as { raw?: unknown; redirect(a: unknown, b?: unknown): void };
  if (response.raw !== undefined) response.redirect(url, 302);
  else response.redirect(302, url);
}

const store = new InstrumentedStore();

const SessionAppModule = sessionTestModule(store, {}, SessionController);

describe.each(PLATFORMS)('sessions on %s', (platform: Platform) => {
  let app: INestApplication;
  let server: ReturnType<INestApplication['getHttpServer']>;

  beforeAll(async () => {
    app = await startApp(platform, SessionAppModule);
    server = app.getHttpServer();
  });
  afterAll(() => app.close());
  beforeEach(() => {
    store.down = false;
    store.writeDelay = 0;
    store.reset();
  });

  async function loggedIn(data: Record<string, unknown> = { user: 'ada' }) {
    const agent = request.agent(server);
    for (const [key, value] of Object.entries(data)) {
      await agent.post('/set').send({ key, value }).expect(200);
    }
    const id = (await agent.get('/read').expect(200)).body.id as string;
    return { agent, id };
  }

  describe('the cookie', () => {
    it('is issued on the first visit with the default attributes, without touching the store', async () => {
      const response = await request(server).get('/untouched').expect(200);
      const line = setCookieFor(response);
      expect(line).toMatch(/^session_id=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(store.count()).toBe(0);
    });

    it('adds Secure when the request came over HTTPS as the platform sees it (trust proxy)', async () => {
      const proxied = await startApp(platform, SessionAppModule, { trustProxy: true });
      try {
        const response = await request(proxied.getHttpServer()).get('/untouched').set('X-Forwarded-Proto', 'https').expect(200);
        expect(setCookieFor(response)).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
        // Without trust proxy the same header is not believed.
        const direct = await request(server).get('/untouched').set('X-Forwarded-Proto', 'https');
        expect(setCookieFor(direct)).not.toContain('Secure');
      } finally {
        await proxied.close();
      }
    });

    it('keeps the same id on later requests and is not re-sent', async () => {
      const agent = request.agent(server);
      const first = await agent.get('/read').expect(200);
      const id = cookieValue(first);
      expect(id).toMatch(ID);
      expect(first.body).toEqual({ id, isNew: true, data: {} });
      const second = await agent.get('/read').expect(200);
      expect(second.body.id).toBe(id);
      expect(setCookies(second)).toEqual([]);
    });
  });

  describe('handle operations across requests', () => {
    it('set, get, delete, all and clear', async () => {
      const { agent, id } = await loggedIn({ user: 'ada', counter: 1, cart: { items: [1, 2] } });
      expect((await agent.get('/get/cart').expect(200)).body).toEqual({ value: { items: [1, 2] } });

      await agent.post('/delete').send({ key: 'counter' }).expect(200);
      let whoami = (await agent.get('/read')).body;
      expect(whoami).toEqual({ id, isNew: false, data: { user: 'ada', cart: { items: [1, 2] } } });

      const cleared = await agent.post('/clear').expect(200);
      expect(cleared.body).toEqual({ id, data: {} });
      await agent.post('/set').send({ key: 'after', value: 'clear' }).expect(200);
      whoami = (await agent.get('/read')).body;
      expect(whoami).toEqual({ id, isNew: false, data: { after: 'clear' } });
    });

    it('SessionService offers the same operations to code that holds the request', async () => {
      const agent = request.agent(server);
      const set = await agent.post('/service/set').send({ key: 'theme', value: 'dark' }).expect(200);
      expect(set.body).toEqual({ value: 'dark' });
      await agent.post('/service/set').send({ key: 'lang', value: 'nl' }).expect(200);
      await agent.post('/service/delete-key').send({ key: 'theme' }).expect(200);
      expect((await agent.get('/read')).body.data).toEqual({ lang: 'nl' });
      const sizeBefore = store.size;
      await agent.post('/service/delete').expect(200);
      expect(store.size).toBe(sizeBefore - 1);
      expect((await agent.get('/read')).body.data).toEqual({});
    });

    it('parallel requests that set different keys of one session keep every key', async () => {
      const { agent } = await loggedIn();
      await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          agent
            .post('/set')
            .send({ key: `k${i}`, value: i })
            .expect(200),
        ),
      );
      const data = (await agent.get('/read')).body.data as Record<string, unknown>;
      for (let i = 0; i < 25; i++) expect(data[`k${i}`]).toBe(i);
    });
  });

  describe('regenerate and destroy', () => {
    it('regenerate moves the data to a new id and the old id finds nothing', async () => {
      const { agent, id: oldId } = await loggedIn({ user: 'ada' });
      const response = await agent.post('/regenerate').expect(200);
      const newId = cookieValue(response);
      expect(newId).toMatch(ID);
      expect(newId).not.toBe(oldId);
      expect(response.body.id).toBe(newId);
      expect((await agent.get('/read')).body).toEqual({ id: newId, isNew: false, data: { user: 'ada' } });

      const replay = await request(server).get('/read').set('Cookie', `session_id=${oldId}`).expect(200);
      expect(replay.body.isNew).toBe(true);
      expect(replay.body.data).toEqual({});
    });

    it('destroy removes the record and clears the cookie with the same name and Path', async () => {
      const { agent, id } = await loggedIn({ user: 'ada' });
      const sizeBefore = store.size;
      const response = await agent.post('/destroy').expect(200);
      expect(setCookieFor(response)).toBe('session_id=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax');
      expect(store.size).toBe(sizeBefore - 1);
      const replay = await request(server).get('/read').set('Cookie', `session_id=${id}`).expect(200);
      expect(replay.body).toMatchObject({ isNew: true, data: {} });
    });
  });

  describe('commit before the response leaves', () => {
    beforeEach(() => {
      // A slow store: a response that left before its commit would be caught by the next request.
      store.writeDelay = 40;
    });

    it.each([
      ['@Redirect()', '/set-then-redirect-decorator', 302, 'decorator'],
      ['a returned { url }', '/set-then-return-redirect', 303, 'return'],
      ['res.redirect() with @Res()', '/set-then-res-redirect', 302, 'res'],
    ])('set then %s: the very next request sees the data', async (_name, path, status, via) => {
      const agent = request.agent(server);
      const response = await agent.post(path).expect(status);
      expect(response.headers.location).toBe('/read');
      expect(cookieValue(response)).toMatch(ID);
      const next = await agent.get('/read').expect(200);
      expect(next.body.data).toEqual({ via });
    });

    it('a handler that throws a 5xx after set commits nothing and sends no cookie', async () => {
      const { agent, id } = await loggedIn({ user: 'ada' });
      store.reset();
      for (const path of ['/set-then-500', '/set-then-crash']) {
        const response = await agent.post(path).expect(500);
        expect(setCookies(response)).toEqual([]);
      }
      expect(store.count('write')).toBe(0);
      expect((await agent.get('/read')).body).toEqual({ id, isNew: false, data: { user: 'ada' } });
    });

    it('an @Res() handler that sends its own 500 after set commits nothing and keeps its body', async () => {
      const { agent, id } = await loggedIn({ user: 'ada' });
      store.reset();
      const response = await agent.post('/set-then-res-500').expect(500);
      expect(response.body).toEqual({ message: 'handler wrote its own 500' });
      expect(setCookies(response)).toEqual([]);
      expect(store.count('write')).toBe(0);
      expect((await agent.get('/read')).body).toEqual({ id, isNew: false, data: { user: 'ada' } });
    });

    it('a new visitor whose request fails with a 5xx gets no cookie and no record', async () => {
      const sizeBefore = store.size;
      const response = await request(server).post('/set-then-500').expect(500);
      expect(setCookies(response)).toEqual([]);
      expect(store.size).toBe(sizeBefore);
    });

    it('a handler that throws a 4xx after set commits what it staged', async () => {
      const agent = request.agent(server);
      const response = await agent.post('/set-then-400').expect(400);
      expect(response.body.message).toBe('bad input, but the session change stands');
      expect(cookieValue(response)).toMatch(ID);
      expect((await agent.get('/read')).body.data).toEqual({ kept: true });
    });

    it('ignoreChanges writes nothing and sends no cookie', async () => {
      const response = await request(server).post('/ignore').expect(200);
      expect(setCookies(response)).toEqual([]);
      expect(store.count('write')).toBe(0);
    });
  });

  describe('laziness and bad cookies', () => {
    it('a request that does not touch its session makes no store call', async () => {
      const { agent } = await loggedIn();
      store.reset();
      await agent.get('/untouched').expect(200);
      await agent.get('/untouched').expect(200);
      expect(store.count()).toBe(0);
    });

    it.each([
      ['empty', ''],
      ['garbage', 'not-a-session-id'],
      ['4 KB', 'a'.repeat(4096)],
      ['unicode', encodeURIComponent('ÿ'.repeat(43))],
      ['one character short', 'A'.repeat(42)],
      ['one character long', 'A'.repeat(44)],
      ['a non-canonical last character', `${'A'.repeat(42)}B`],
      ['percent garbage', '%E0%A4%A'],
    ])('a %s cookie gets a fresh session without a store call', async (_name, value) => {
      const response = await request(server).get('/read').set('Cookie', `session_id=${value}`).expect(200);
      expect(store.count()).toBe(0);
      const fresh = cookieValue(response);
      expect(fresh).toMatch(ID);
      expect(fresh).not.toBe(value);
      expect(response.body).toEqual({ id: fresh, isNew: true, data: {} });
    });

    it('a well-formed id the store does not hold is never adopted on write', async () => {
      const planted = 'A'.repeat(42) + 'A';
      const response = await request(server)
        .post('/set')
        .set('Cookie', `session_id=${planted}`)
        .send({ key: 'user', value: 'victim' })
        .expect(200);
      const minted = cookieValue(response);
      expect(minted).toMatch(ID);
      expect(minted).not.toBe(planted);
      const viaPlanted = await request(server).get('/read').set('Cookie', `session_id=${planted}`);
      expect(viaPlanted.body).toMatchObject({ isNew: true, data: {} });
      const viaMinted = await request(server).get('/read').set('Cookie', `session_id=${minted}`);
      expect(viaMinted.body).toEqual({ id: minted, isNew: false, data: { user: 'victim' } });
    });
  });

  describe('values', () => {
    it.each(['function', 'bigint', 'cycle'])('a %s value is refused with a clear error and nothing is written', async (kind) => {
      const agent = request.agent(server);
      const response = await agent.post('/set-bad-value').send({ kind }).expect(400);
      expect(response.body.message).toMatch(/^session value "bad".* is (a function|a BigInt|a cyclic reference); only JSON values/);
      expect(store.count('write')).toBe(0);
      expect((await agent.get('/read')).body.data).toEqual({});
    });

    it('stored __proto__ and constructor keys stay data and pollute no prototype', async () => {
      const agent = request.agent(server);
      await agent.post('/set').set('Content-Type', 'application/json').send('{"key":"__proto__","value":{"polluted":true}}').expect(200);
      await agent
        .post('/set')
        .send({ key: 'constructor', value: { prototype: { polluted: true } } })
        .expect(200);
      const whoami = await agent.get('/read').expect(200);
      expect(whoami.text).toContain('"__proto__":{"polluted":true}');
      expect((await agent.get('/get/__proto__')).body).toEqual({ value: { polluted: true } });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      // A fresh session has no inherited keys either.
      expect((await request(server).get('/get/constructor')).body).toEqual({ value: null });
      expect((await request(server).get('/get/toString')).body).toEqual({ value: null });
    });
  });

  describe('store outage', () => {
    it('answers 503 with a clear message, keeps the cookie, and recovers by itself', async () => {
      const { agent, id } = await loggedIn({ user: 'ada' });
      store.down = true;
      for (const call of [() => agent.get('/read'), () => agent.post('/set').send({ key: 'x', value: 1 })]) {
        const response = await call().expect(503);
        expect(response.body).toEqual({
          statusCode: 503,
          message: 'Session store unavailable; please retry shortly.',
          error: 'Service Unavailable',
        });
        expect(setCookies(response)).toEqual([]);
      }
      // A redirect from an @Res() handler is held back and becomes a 503 too: never a 3xx that did not persist.
      const redirected = await agent.post('/set-then-res-redirect').expect(503);
      expect(redirected.headers.location).toBeUndefined();
      expect(setCookies(redirected)).toEqual([]);

      store.down = false;
      const back = await agent.get('/read').expect(200);
      expect(back.body).toEqual({ id, isNew: false, data: { user: 'ada' } });
    });
  });
});

describe('module set-up', () => {
  @Controller()
  class ProbeController {
    @Get('probe')
    async probe(@Session() session: Session) {
      try {
        await session.get('anything');
        return { ok: true };
      } catch (error) {
        return { error: (error as Error).message };
      }
    }
  }

  it.each(PLATFORMS)('enabled: false turns sessions off with a clear error (%s)', async (platform) => {
    @Module({ imports: [SessionModule.forRoot(undefined, { enabled: false })], controllers: [ProbeController] })
    class DisabledModule {}
    const app = await startApp(platform, DisabledModule);
    try {
      const response = await request(app.getHttpServer()).get('/probe').expect(200);
      expect(setCookies(response)).toEqual([]);
      expect(response.body).toEqual({
        error: 'Sessions are disabled (SessionModule enabled: false); enable them to use the session.',
      });
    } finally {
      await app.close();
    }
  });

  it('forRootAsync takes the store and options from a factory with injected providers', async () => {
    const asyncStore = new InstrumentedStore();
    @Module({ providers: [{ provide: 'STORE', useValue: asyncStore }], exports: ['STORE'] })
    class StoreModule {}
    @Module({
      imports: [
        SessionModule.forRootAsync({
          imports: [StoreModule],
          inject: ['STORE'],
          useFactory: (injected: SessionStore) => ({ store: injected, cookie: { name: 'sid' } }),
        }),
      ],
      controllers: [SessionTestController, SessionController],
    })
    class AsyncModule {}
    const app = await startApp('express', AsyncModule);
    try {
      const agent = request.agent(app.getHttpServer());
      const response = await agent.post('/set').send({ key: 'a', value: 1 }).expect(200);
      expect(cookieValue(response, 'sid')).toMatch(ID);
      expect(asyncStore.count('write')).toBe(1);
      expect(app.get(SessionStore)).toBe(asyncStore);
    } finally {
      await app.close();
    }
  });

  it.each([
    [{ idleTimeout: -1 }, 'session idleTimeout must be a positive number of seconds (at least 1), got -1'],
    [{ cookie: { name: 'bad name' } }, 'session cookie name "bad name" is not a valid cookie name'],
    [{ cookie: { path: '/a;b' } }, 'session cookie path "/a;b" must start with "/"'],
    [{ cookie: { name: '__Host-sid', domain: 'example.com', secure: true } }, '__Host- require secure: true'],
    [{ maxSessionBytes: 0 }, 'session maxSessionBytes must be a positive integer (bytes of JSON) or false (no limit), got 0'],
  ])('bad options fail at start-up with one sentence: %j', async (options, message) => {
    @Module({ imports: [SessionModule.forRoot(new MemoryStore(), options as never)] })
    class BadModule {}
    await expect(startApp('express', BadModule)).rejects.toThrow(message);
  });

  it('the default memory store stops its sweep timer when the application shuts down', async () => {
    const app = await startApp('express', sessionTestModule(undefined, {}, SessionController));
    const memory = app.get(SessionStore);
    expect(memory).toBeInstanceOf(MemoryStore);
    await request(app.getHttpServer()).post('/set').send({ key: 'a', value: 1 }).expect(200);
    expect((memory as MemoryStore).size).toBe(1);
    await app.close();
    expect((memory as MemoryStore).size).toBe(0);
  });
});
