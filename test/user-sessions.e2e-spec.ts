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
import { PLATFORMS, startApp } from './support/platforms.js';
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
      expect(response.body).toEqual(expected);
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
