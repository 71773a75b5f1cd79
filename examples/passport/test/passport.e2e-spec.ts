import type { INestApplication } from '@nestjs/common';
import request, { type Response } from 'supertest';
import { createApp, type Platform } from '../src/app.factory.js';

function sessionCookie(response: Response): string | undefined {
  const header: unknown = response.headers['set-cookie'];
  const lines = Array.isArray(header) ? (header as string[]) : typeof header === 'string' ? [header] : [];
  return lines.find((line) => line.startsWith('session_id='))?.split(';')[0];
}

describe.each<Platform>(['express', 'fastify'])('examples/passport on %s', (platform) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await createApp(platform, { logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());

  const login = (username: string, password: string) => request(app.getHttpServer()).post('/auth/login').send({ username, password });

  it('POST /auth/login answers 201 with the user (no password) and a session cookie', async () => {
    const response = await login('john', 'changeme').expect(201);
    expect(response.body).toEqual({ userId: 1, username: 'john' });
    expect(sessionCookie(response)).toMatch(/^session_id=[A-Za-z0-9_-]{43}$/);
  });

  it('POST /auth/login answers 401 for a wrong password, and logs no one in', async () => {
    const response = await login('maria', 'wrong').expect(401);
    // A first visit gets an id cookie (no record behind it), never a login.
    const cookie = sessionCookie(response);
    await request(app.getHttpServer())
      .get('/auth/profile')
      .set('Cookie', cookie === undefined ? [] : [cookie])
      .expect(403);
  });

  it('GET /auth/profile answers 200 with the user when logged in, 403 when not', async () => {
    const cookie = sessionCookie(await login('maria', 'guess').expect(201))!;
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', cookie).expect(200, { userId: 2, username: 'maria' });
    await request(app.getHttpServer()).get('/auth/profile').expect(403);
  });

  it('POST /auth/logout answers 201 and ends the session: the old cookie then gets 403', async () => {
    const cookie = sessionCookie(await login('john', 'changeme').expect(201))!;
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', cookie).expect(200);
    await request(app.getHttpServer()).post('/auth/logout').set('Cookie', cookie).expect(201, { ok: true });
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', cookie).expect(403);
  });

  it('each login gets a session id of its own', async () => {
    const first = sessionCookie(await login('john', 'changeme').expect(201));
    const second = sessionCookie(await login('john', 'changeme').set('Cookie', first!).expect(201));
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', first!).expect(403);
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', second!).expect(200);
  });
});
