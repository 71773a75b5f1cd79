import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { AppModule, type Platform } from '../src/app.module.js';

interface GraphQLBody {
  data: Record<string, unknown> | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
}

async function start(platform: Platform): Promise<INestApplication> {
  const testing = await Test.createTestingModule({ imports: [AppModule.forPlatform(platform)] }).compile();
  const app =
    platform === 'fastify'
      ? testing.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false })
      : testing.createNestApplication({ logger: false });
  await app.init();
  if (platform === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

/** The session cookie a response sets, as a `Cookie` header value, or undefined. */
function sessionCookie(response: request.Response): string | undefined {
  const header: unknown = response.headers['set-cookie'];
  const lines = Array.isArray(header) ? (header as string[]) : [];
  const line = lines.find((candidate) => candidate.startsWith('session_id='));
  return line?.split(';')[0];
}

const LOGIN =
  'mutation ($username: String!, $password: String!) { login(username: $username, password: $password) { username name loggedInAt } }';

describe.each(['express', 'fastify'] as const)('examples/graphql on %s', (platform) => {
  let app: INestApplication;

  beforeEach(async () => {
    app = await start(platform);
  });

  afterEach(async () => {
    await app.close();
  });

  function gql(query: string, variables: Record<string, unknown> = {}, cookie?: string) {
    const call = request(app.getHttpServer()).post('/graphql').set('Content-Type', 'application/json');
    if (cookie !== undefined) call.set('Cookie', cookie);
    return call.send({ query, variables });
  }

  it('login sets the session cookie; me answers the user on the next request; logout ends it', async () => {
    const login = await gql(LOGIN, { username: 'john', password: 'changeme' });
    const loggedIn = (login.body as GraphQLBody).data?.login as { username: string; name: string; loggedInAt: string };
    expect(loggedIn).toMatchObject({ username: 'john', name: 'John' });
    expect(Date.parse(loggedIn.loggedInAt)).not.toBeNaN();
    const cookie = sessionCookie(login);
    expect(cookie).toMatch(/^session_id=[A-Za-z0-9_-]{43}$/);

    const me = await gql('{ me { username name loggedInAt } }', {}, cookie);
    expect(me.body).toEqual({ data: { me: { username: 'john', name: 'John', loggedInAt: loggedIn.loggedInAt } } });

    const logout = await gql('mutation { logout }', {}, cookie);
    expect(logout.body).toEqual({ data: { logout: true } });
    expect(sessionCookie(logout)).toBe('session_id=');

    const after = await gql('{ me { username } }', {}, cookie);
    expect((after.body as GraphQLBody).errors?.[0]).toMatchObject({ path: ['me'], extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('me without a session is UNAUTHENTICATED, and the denied request gets no cookie', async () => {
    const response = await gql('{ me { username } }');
    expect(response.status).toBe(200);
    const body = response.body as GraphQLBody;
    expect(body.data).toBeNull();
    expect(body.errors?.[0]).toMatchObject({
      message: 'Authentication required; please log in.',
      extensions: { code: 'UNAUTHENTICATED', status: 401 },
    });
    expect(sessionCookie(response)).toBeUndefined();
  });

  it('a wrong password is UNAUTHENTICATED and logs nobody in', async () => {
    const response = await gql(LOGIN, { username: 'maria', password: 'wrong' });
    expect((response.body as GraphQLBody).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(sessionCookie(response)).toBeUndefined();
  });

  it('login gives a new session id, so the id held before it is worth nothing after', async () => {
    const before = sessionCookie(await gql(LOGIN, { username: 'john', password: 'changeme' }));
    const login = await gql(LOGIN, { username: 'maria', password: 'guess' }, before);
    const after = sessionCookie(login);
    expect(before).toBeDefined();
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    const stale = await gql('{ me { username } }', {}, before);
    expect((stale.body as GraphQLBody).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await gql('{ me { username } }', {}, after)).body).toEqual({ data: { me: { username: 'maria' } } });
  });
});
