import { Test, TestingModule } from '@nestjs/testing';
import { INestApplication } from '@nestjs/common';
import {
  FastifyAdapter,
  NestFastifyApplication,
} from '@nestjs/platform-fastify';
import request from 'supertest';
import { App } from 'supertest/types.js';
import { AppModule } from './../src/app.module.js';

/** The `session_id` cookie a response sets, or undefined. */
function sessionCookie(res: request.Response): string | undefined {
  const header = res.headers['set-cookie'] as unknown as string[] | undefined;
  return header?.find((cookie) => cookie.startsWith('session_id='));
}

function cookieValue(cookie: string | undefined): string | undefined {
  return cookie?.split(';')[0].slice('session_id='.length);
}

const credentials = { username: 'ada', password: 'password' };

describe.each(['express', 'fastify'] as const)(
  'Sessions from @novanest/session on %s (e2e)',
  (platform) => {
    let app: INestApplication<App>;

    beforeEach(async () => {
      const moduleFixture: TestingModule = await Test.createTestingModule({
        imports: [AppModule],
      }).compile();

      if (platform === 'fastify') {
        const fastifyApp =
          moduleFixture.createNestApplication<NestFastifyApplication>(
            new FastifyAdapter(),
          );
        await fastifyApp.init();
        await fastifyApp.getHttpAdapter().getInstance().ready();
        app = fastifyApp as unknown as INestApplication<App>;
      } else {
        app = moduleFixture.createNestApplication();
        await app.init();
      }
    });

    afterEach(async () => {
      await app.close();
    });

    it('refuses the guarded route before login', async () => {
      await request(app.getHttpServer()).get('/auth/me').expect(401);
    });

    it('refuses a wrong password and sets no session', async () => {
      const res = await request(app.getHttpServer())
        .post('/auth/login')
        .send({ username: 'ada', password: 'wrong' })
        .expect(401);
      expect(sessionCookie(res)).toBeUndefined();
    });

    it('logs in with a new session id, reads the guarded route, logs out', async () => {
      const agent = request.agent(app.getHttpServer());

      // Every visitor gets a cookie on its first response.
      const first = await agent.get('/').expect(200).expect('Hello World!');
      const anonymousId = cookieValue(sessionCookie(first));
      expect(anonymousId).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const login = await agent
        .post('/auth/login')
        .send(credentials)
        .expect(200, { username: 'ada' });
      const loggedInCookie = sessionCookie(login);
      expect(loggedInCookie).toMatch(/HttpOnly/i);
      const loggedInId = cookieValue(loggedInCookie);
      expect(loggedInId).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(loggedInId).not.toBe(anonymousId); // regenerated at login

      await agent.get('/auth/me').expect(200, { username: 'ada' });

      const logout = await agent
        .post('/auth/logout')
        .expect(200, { loggedOut: true });
      // The cookie is expired on the client...
      expect(sessionCookie(logout)).toMatch(
        /Expires=Thu, 01 Jan 1970|Max-Age=0/i,
      );
      await agent.get('/auth/me').expect(401);

      // ...and the session is gone on the server: the old cookie no longer works.
      await request(app.getHttpServer())
        .get('/auth/me')
        .set('Cookie', `session_id=${loggedInId}`)
        .expect(401);
    });
  },
);
