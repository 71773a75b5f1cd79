/**
 * A user's sessions beyond the store contract (which runs the index cases on every store that
 * keeps one): the clear error of the stores that cannot, and bad input to `bindUser`.
 */
import { Body, Controller, HttpCode, type INestApplication, Post, Req } from '@nestjs/common';
import session from 'express-session';
import request from 'supertest';
import {
  CookieStore,
  fromExpressSessionStore,
  fromNovaStore,
  MemoryStore,
  Session,
  SessionService,
  type SessionStore,
} from '@novanest/session';
import { cookieValue, setCookieFor } from './support/cookies.js';
import { PLATFORMS, startApp } from './support/platforms.js';
import { UserIndexController } from './support/user-index-contract.js';
import { sessionTestModule } from './support/session-test.controller.js';

/** Each call, with the error it threw (name and message) instead of a 500. */
@Controller('attempt')
class AttemptController {
  constructor(private readonly sessions: SessionService) {}

  @Post('bind')
  @HttpCode(200)
  async bind(@Session() session: Session, @Body() body: { user: unknown }) {
    return attempt(() => session.bindUser(body.user as string, { userAgent: 'x' }));
  }

  @Post('set-reserved')
  @HttpCode(200)
  async setReserved(@Session() session: Session) {
    return attempt(() => session.set('$user', { id: 'mallory' }));
  }

  @Post('list')
  @HttpCode(200)
  async list(@Req() req: object) {
    return attempt(() => this.sessions.listUserSessions('ada', req));
  }

  @Post('revoke-one')
  @HttpCode(200)
  async revokeOne() {
    return attempt(() => this.sessions.revokeUserSession('ada', 'AAAAAAAAAAAAAAAAAAAAAA'));
  }

  @Post('revoke-all')
  @HttpCode(200)
  async revokeAll(@Req() req: object) {
    return attempt(() => this.sessions.revokeUserSessions('ada', { except: req }));
  }
}

async function attempt(call: () => Promise<unknown>): Promise<{ ok: true } | { error: string; message: string }> {
  try {
    await call();
    return { ok: true };
  } catch (error) {
    return { error: (error as Error).name, message: (error as Error).message };
  }
}

const unsupported: Array<[string, () => SessionStore, string]> = [
  [
    'the Nova-style adapter',
    () => {
      const records = new Map<string, unknown>();
      return fromNovaStore({
        getValue: (id, key) => records.get(`${id}/${key}`),
        setValue: (id, key, value) => void records.set(`${id}/${key}`, value),
        deleteValue: (id, key) => void records.delete(`${id}/${key}`),
      });
    },
    'The Nova-style store adapter (fromNovaStore)',
  ],
  [
    'the express-session adapter',
    () => fromExpressSessionStore(new session.MemoryStore()),
    'The express-session store adapter (fromExpressSessionStore)',
  ],
  ['the cookie store', () => new CookieStore({ secret: 'a-secret-of-at-least-thirty-two-bytes!!' }), 'CookieStore'],
];

describe.each(PLATFORMS)("a user's sessions on %s", (platform) => {
  describe.each(unsupported)('on %s', (_label, makeStore, storeName) => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await startApp(platform, sessionTestModule(makeStore(), {}, AttemptController));
    });
    afterAll(async () => {
      await app?.close();
    });

    const expected = {
      error: 'SessionUserIndexUnsupportedError',
      message:
        `${storeName} cannot list or revoke a user's sessions (it keeps no per-user index): ` +
        'use MemoryStore, RedisStore or PostgresStore for bindUser and SessionService.listUserSessions / revokeUserSession(s)',
    };

    it('bindUser throws at the call, naming the store, and nothing is written', async () => {
      const response = await request(app.getHttpServer()).post('/attempt/bind').send({ user: 'ada' });
      expect(response.body).toEqual(
        storeName === 'CookieStore'
          ? {
              error: 'SessionUserIndexUnsupportedError',
              message:
                'CookieStore cannot bind sessions to users without a server-side store for revocation: pass new ' +
                'CookieStore({ secret, revocation: <a MemoryStore, RedisStore or PostgresStore> }), or keep sessions in one of those stores',
            }
          : expected,
      );
      // The request committed nothing: no record, so no cookie carries one.
      const read = await request(app.getHttpServer()).get('/read');
      expect(read.body).toMatchObject({ isNew: true, data: {} });
    });

    it('listing and revoking throw the same error', async () => {
      for (const path of ['/attempt/list', '/attempt/revoke-one', '/attempt/revoke-all']) {
        const response = await request(app.getHttpServer()).post(path);
        expect(response.body).toEqual(expected);
      }
    });
  });

  describe('bad input', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await startApp(platform, sessionTestModule(new MemoryStore(), {}, AttemptController));
    });
    afterAll(async () => {
      await app?.close();
    });

    it.each([[''], ['x'.repeat(257)], [42], [null]])('bindUser(%j) is a SessionValueError', async (user) => {
      const response = await request(app.getHttpServer()).post('/attempt/bind').send({ user });
      expect(response.body).toEqual({
        error: 'SessionValueError',
        message: 'bindUser needs a user id: a non-empty string of at most 256 characters',
      });
    });

    it('the binding cannot be forged through set: $user is a reserved key', async () => {
      const response = await request(app.getHttpServer()).post('/attempt/set-reserved');
      expect(response.body).toEqual({
        error: 'SessionValueError',
        message: 'session key "$user" is reserved for the user binding; use bindUser(userId)',
      });
    });
  });
});

/** A MemoryStore that counts its reads: the cost of the cookie store's revocation check. */
class CountingStore extends MemoryStore {
  reads = 0;
  override get(key: string) {
    this.reads++;
    return super.get(key);
  }
}

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!!';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(PLATFORMS)('cookie store revocation on %s', (platform) => {
  let app: INestApplication;
  let revocation: CountingStore;
  let server: ReturnType<INestApplication['getHttpServer']>;

  beforeAll(async () => {
    revocation = new CountingStore();
    const store = new CookieStore({ secret: SECRET, revocation });
    app = await startApp(platform, sessionTestModule(store, { idleTimeout: 1, absoluteTimeout: 60 }, UserIndexController));
    server = app.getHttpServer();
  });
  afterAll(async () => {
    await app?.close();
    revocation.onApplicationShutdown();
  });

  async function login(user: string): Promise<string> {
    const response = await request(server).post('/user/login').set('User-Agent', 'test').send({ user });
    expect(response.status).toBe(200);
    return cookieValue(response) as string;
  }

  async function me(cookie: string): Promise<{ userId: string | null; setCookie: string | undefined }> {
    const response = await request(server).get('/user/me').set('Cookie', `session_id=${cookie}`);
    expect(response.status).toBe(200);
    return { userId: (response.body as { userId: string | null }).userId, setCookie: setCookieFor(response) };
  }

  it('after "log out everywhere", every copied old cookie of the user is refused; a new login works', async () => {
    const laptop = await login('ada');
    const phone = await login('ada');
    const bystander = await login('bob');
    expect((await me(laptop)).userId).toBe('ada');

    const revoked = await request(server).post('/user/revoke-all').set('Cookie', `session_id=${phone}`);
    expect(revoked.status).toBe(200);
    for (const copy of [laptop, phone]) {
      const seen = await me(copy);
      expect(seen.userId).toBeNull();
      // The refused cookie is expired, not left to be sent again.
      expect(seen.setCookie).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/i);
    }
    expect((await me(bystander)).userId).toBe('bob');
    await sleep(2);
    expect((await me(await login('ada'))).userId).toBe('ada');
  });

  it('"log out everywhere else" keeps the current device with a re-sealed cookie; its old copy is refused too', async () => {
    const laptop = await login('cy');
    const phone = await login('cy');
    await sleep(2);
    const response = await request(server).post('/user/revoke-others').set('Cookie', `session_id=${laptop}`);
    expect(response.status).toBe(200);
    const resealed = cookieValue(response);
    expect(resealed).toBeDefined();
    expect(resealed).not.toBe(laptop);
    expect((await me(resealed as string)).userId).toBe('cy');
    expect((await me(phone)).userId).toBeNull();
    expect((await me(laptop)).userId).toBeNull();
  });

  it('costs one revocation-store read per request that uses a bound session, none otherwise', async () => {
    const bound = await login('dee');
    const unbound = cookieValue(await request(server).post('/set').send({ key: 'a', value: 1 })) as string;
    const before = revocation.reads;
    await me(bound);
    expect(revocation.reads - before).toBe(1);
    await me(unbound);
    await request(server).get('/untouched').set('Cookie', `session_id=${bound}`);
    expect(revocation.reads - before).toBe(1);
  });

  it('lists and revokes by handle only where sessions are indexed: the clear error, naming CookieStore', async () => {
    const bound = await login('fay');
    const response = await request(server).get('/user/sessions').set('Cookie', `session_id=${bound}`);
    expect(response.status).toBe(500);
    expect((await me(bound)).userId).toBe('fay');
  });

  it("a replayed cookie's idle deadline does not move: an old copy dies at its own deadline", async () => {
    const first = await login('eve');
    const started = Date.now();
    await sleep(600);
    // Used within its idle timeout (1 s): the response re-seals with a later deadline.
    const used = await request(server).get('/user/me').set('Cookie', `session_id=${first}`);
    expect((used.body as { userId: string }).userId).toBe('eve');
    const renewed = cookieValue(used);
    expect(renewed).toBeDefined();
    await sleep(started + 1300 - Date.now());
    // Past the first cookie's own deadline: replaying it opens nothing, whatever happened since.
    expect((await me(first)).userId).toBeNull();
    expect((await me(renewed as string)).userId).toBe('eve');
  });
});
