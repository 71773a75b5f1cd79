/**
 * GraphQL resolvers reach the session through the GraphQL context's request and response:
 * `@Session()`, `@AuthData()`, `SessionService` and `SessionAuthGuard` with `@Security(...)`,
 * on Apollo (Express and Fastify) and Mercurius (Fastify), with the GraphQL HTTP response
 * going through the same commit gate as any other route.
 */
import { type DynamicModule, type INestApplication, Module, type Type, UseGuards } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, Context, Field, GraphQLModule, Int, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import {
  AuthData,
  deny,
  redirectTo,
  Security,
  type SecurityFn,
  Session,
  SessionAuthGuard,
  SessionModule,
  SessionService,
} from '@novanest/session';
import request from 'supertest';
import { cookieValue, setCookieFor, setCookies } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { type Platform, startApp } from './support/platforms.js';

const USERS: Record<string, string> = { ann: 'secret-1', bob: 'secret-2' };

/** Login check: in GraphQL, `params` are the field's arguments. */
const usernamePassword: SecurityFn = ({ params }) => {
  const username = typeof params.username === 'string' ? params.username : '';
  return USERS[username] !== undefined && USERS[username] === params.password ? { username } : false;
};

const sessionAuth: SecurityFn = async ({ session }) => {
  const username = await session.get<string>('username');
  return username === undefined ? false : { username };
};

@ObjectType()
class Visit {
  @Field(() => Int)
  count!: number;

  @Field()
  sessionId!: string;
}

@Resolver()
@UseGuards(SessionAuthGuard)
@Security(sessionAuth)
class AccountResolver {
  constructor(private readonly sessions: SessionService) {}

  @Query(() => String, { nullable: true })
  @Security(false)
  async me(@Session() session: Session): Promise<string | null> {
    return (await session.get<string>('username')) ?? null;
  }

  @Mutation(() => String)
  @Security(usernamePassword)
  async login(
    @Args('username') _username: string,
    @Args('password') _password: string,
    @AuthData('username') username: string,
    @Session() session: Session,
  ): Promise<string> {
    await session.regenerate();
    await session.set('username', username);
    return username;
  }

  @Mutation(() => Boolean)
  async logout(@Session() session: Session): Promise<boolean> {
    await session.destroy();
    return true;
  }

  @Query(() => String)
  secret(@AuthData('username') username: string): string {
    return `the secret of ${username}`;
  }

  /** Public: sees no auth data, even when a secured field of the same request has some. */
  @Query(() => String)
  @Security(false)
  publicAuthData(@AuthData() auth: unknown): string {
    return auth === undefined ? 'none' : JSON.stringify(auth);
  }

  /** Through `SessionService` and the context's request, as code without `@Session()` does. */
  @Mutation(() => Visit)
  @Security(false)
  async visit(@Context() context: { req: object }): Promise<Visit> {
    const count = ((await this.sessions.get<number>(context.req, 'visits')) ?? 0) + 1;
    await this.sessions.set(context.req, 'visits', count);
    return { count, sessionId: this.sessions.getSession(context.req).id };
  }

  /** Which context the resolvers get: the app's own (`tenant`) or the driver's default. */
  @Query(() => String, { nullable: true })
  @Security(false)
  tenant(@Context() context: { tenant?: string }): string | null {
    return context.tenant ?? null;
  }

  @Mutation(() => String)
  @Security(false)
  async note(@Args('text') text: string, @Session() session: Session): Promise<string> {
    await session.set('note', text);
    return text;
  }

  @Query(() => String, { nullable: true })
  @Security(false)
  async readNote(@Session() session: Session): Promise<string | null> {
    return (await session.get<string>('note')) ?? null;
  }

  @Mutation(() => String)
  @Security(() => false)
  refused(): string {
    return 'never';
  }

  @Query(() => String)
  @Security(() => deny({ status: 403, body: { message: 'Admins only' } }))
  admin(): string {
    return 'never';
  }

  @Query(() => String)
  @Security(() => deny({ status: 429, headers: { 'retry-after': '30' } }))
  limited(): string {
    return 'never';
  }

  @Query(() => String)
  @Security(() => redirectTo('/login'))
  redirected(): string {
    return 'never';
  }
}

/** `ownContext`: the app passes a `context` function of its own that returns no `req`. */
type Server = { name: string; platform: Platform; driver: 'apollo' | 'mercurius'; ownContext: boolean };

const SERVERS: Server[] = [
  { name: 'Apollo on Express', platform: 'express', driver: 'apollo', ownContext: false },
  { name: 'Mercurius on Fastify', platform: 'fastify', driver: 'mercurius', ownContext: false },
  { name: 'Apollo on Fastify', platform: 'fastify', driver: 'apollo', ownContext: false },
  { name: 'Apollo on Express, a context of its own', platform: 'express', driver: 'apollo', ownContext: true },
  { name: 'Mercurius on Fastify, a context of its own', platform: 'fastify', driver: 'mercurius', ownContext: true },
];

/** A context an app might build: its own fields, no `req` (Nest adds it). */
const ownContext = () => ({ tenant: 'acme' });

function graphqlModule({ driver, ownContext: custom }: Server): DynamicModule {
  const context = custom ? ownContext : undefined;
  return driver === 'apollo'
    ? GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, context })
    : GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, context });
}

function appModule(server: Server, store: InstrumentedStore): Type<unknown> {
  @Module({ imports: [SessionModule.forRoot(store), graphqlModule(server)], providers: [AccountResolver] })
  class GraphQLAppModule {}
  return GraphQLAppModule;
}

interface GraphQLError {
  message: string;
  path?: string[];
  extensions?: Record<string, unknown>;
}
interface GraphQLBody {
  data: Record<string, unknown> | null;
  errors?: GraphQLError[];
}

describe.each(SERVERS)('GraphQL: $name', (server) => {
  let app: INestApplication;
  let store: InstrumentedStore;

  beforeEach(async () => {
    store = new InstrumentedStore();
    app = await startApp(server.platform, appModule(server, store));
  });

  afterEach(async () => {
    await app.close();
  });

  function gql(query: string, variables: Record<string, unknown> = {}, cookie?: string) {
    const call = request(app.getHttpServer()).post('/graphql').set('Content-Type', 'application/json');
    if (cookie !== undefined) call.set('Cookie', cookie);
    return call.send({ query, variables });
  }

  function bodyOf(response: request.Response): GraphQLBody {
    return response.body as GraphQLBody;
  }

  async function logIn(username = 'ann'): Promise<string> {
    const response = await gql('mutation ($u: String!, $p: String!) { login(username: $u, password: $p) }', {
      u: username,
      p: USERS[username],
    });
    expect(bodyOf(response)).toEqual({ data: { login: username } });
    const id = cookieValue(response);
    expect(id).toBeDefined();
    return `session_id=${id}`;
  }

  it('a login mutation commits its session before the response, with one cookie, and `me` reads it on the next request', async () => {
    // A response that left before its commit would let the next request miss the write.
    store.writeDelay = 40;
    const response = await gql('mutation { login(username: "ann", password: "secret-1") }');
    expect(response.status).toBe(200);
    expect(bodyOf(response)).toEqual({ data: { login: 'ann' } });
    expect(setCookies(response).filter((line) => line.startsWith('session_id='))).toHaveLength(1);
    expect(setCookieFor(response)).toMatch(/; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(store.count('write')).toBe(1);

    const cookie = `session_id=${cookieValue(response)}`;
    const me = await gql('{ me }', {}, cookie);
    expect(bodyOf(me)).toEqual({ data: { me: 'ann' } });
    // Reading an unchanged session sends no cookie and writes nothing.
    expect(setCookieFor(me)).toBeUndefined();
    expect(store.count('write')).toBe(1);
  });

  it('`me` without a cookie is null, and the visitor gets its cookie with no store record', async () => {
    const response = await gql('{ me }');
    expect(bodyOf(response)).toEqual({ data: { me: null } });
    expect(cookieValue(response)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(store.count('write')).toBe(0);
  });

  it('a wrong password is a GraphQL error with code UNAUTHENTICATED, and nothing is committed', async () => {
    const response = await gql('mutation { login(username: "ann", password: "nope") }');
    expect(response.status).toBe(200);
    const body = bodyOf(response);
    expect(body.data).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]).toMatchObject({
      message: 'Authentication required; please log in.',
      path: ['login'],
      extensions: { code: 'UNAUTHENTICATED', status: 401 },
    });
    expect(setCookieFor(response)).toBeUndefined();
    expect(store.count('write')).toBe(0);
  });

  it('a @Security query is denied without login: the error, the field null, no cookie, no write', async () => {
    const response = await gql('{ secret }');
    expect(response.status).toBe(200);
    const body = bodyOf(response);
    expect(body.data).toBeNull();
    expect(body.errors?.[0]).toMatchObject({
      message: 'Authentication required; please log in.',
      path: ['secret'],
      extensions: { code: 'UNAUTHENTICATED', status: 401 },
    });
    expect(setCookieFor(response)).toBeUndefined();
    expect(store.count()).toBe(0);
  });

  it('a denial drops what the same request already staged: nothing is committed', async () => {
    const cookie = await logIn();
    store.reset();
    // Mutation fields run one after the other: `note` stages a change, then `refused` is denied.
    const response = await gql('mutation { note(text: "half-done") refused }', {}, cookie);
    const body = bodyOf(response);
    expect(body.errors?.map((error) => error.path)).toEqual([['refused']]);
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(setCookieFor(response)).toBeUndefined();
    expect(store.count('write')).toBe(0);
    expect(bodyOf(await gql('{ readNote }', {}, cookie))).toEqual({ data: { readNote: null } });
  });

  it('with a logged-in session the secured query answers, and @AuthData stays with its own field', async () => {
    const cookie = await logIn('bob');
    const response = await gql('{ secret publicAuthData }', {}, cookie);
    expect(bodyOf(response)).toEqual({ data: { secret: 'the secret of bob', publicAuthData: 'none' } });
  });

  it('deny() and redirectTo() become GraphQL errors with a code; headers and redirects are not sent', async () => {
    const response = await gql('{ admin }');
    expect(bodyOf(response).errors?.[0]).toMatchObject({
      message: 'Admins only',
      extensions: { code: 'FORBIDDEN', status: 403 },
    });

    const limited = await gql('{ limited }');
    expect(limited.headers['retry-after']).toBeUndefined();
    expect(bodyOf(limited).errors?.[0]).toMatchObject({
      message: 'Too Many Requests',
      extensions: { code: 'TOO_MANY_REQUESTS', status: 429 },
    });

    const redirected = await gql('{ redirected }');
    expect(redirected.status).toBe(200);
    expect(redirected.headers.location).toBeUndefined();
    expect(bodyOf(redirected).errors?.[0]).toMatchObject({
      message: 'Authentication required; please log in.',
      extensions: { code: 'UNAUTHENTICATED', status: 302, location: '/login' },
    });
  });

  it('SessionService works with the context request: the count goes on across requests', async () => {
    const first = await gql('mutation { visit { count sessionId } }');
    const firstVisit = bodyOf(first).data?.visit as { count: number; sessionId: string };
    expect(firstVisit.count).toBe(1);
    // The id SessionService reports is the id the cookie carries.
    expect(cookieValue(first)).toBe(firstVisit.sessionId);
    const cookie = `session_id=${cookieValue(first)}`;
    const second = await gql('mutation { visit { count sessionId } }', {}, cookie);
    expect(bodyOf(second).data?.visit).toEqual({ count: 2, sessionId: firstVisit.sessionId });
  });

  it("SessionService finds the session through the context's req, whether the context is the driver's or the app's own", async () => {
    const response = await gql('mutation { visit { count sessionId } }');
    expect(bodyOf(response).data?.visit).toMatchObject({ count: 1 });
    expect(bodyOf(await gql('{ tenant }')).data).toEqual({ tenant: server.ownContext ? 'acme' : null });
  });

  it('several fields of one request share one session and make one commit', async () => {
    const response = await gql('mutation { note(text: "hi") visit { count } }');
    expect(bodyOf(response)).toEqual({ data: { note: 'hi', visit: { count: 1 } } });
    expect(setCookies(response).filter((line) => line.startsWith('session_id='))).toHaveLength(1);
    expect(store.count('write')).toBe(1);
    const cookie = `session_id=${cookieValue(response)}`;
    expect(bodyOf(await gql('{ readNote }', {}, cookie))).toEqual({ data: { readNote: 'hi' } });
  });

  it("store outage: a resolver's session read is the field's error; a commit the store refuses is a 503 in place of the response", async () => {
    const cookie = await logIn();
    store.down = true;
    const read = await gql('{ me }', {}, cookie);
    expect(read.status).toBe(200);
    expect(bodyOf(read)).toMatchObject({
      data: { me: null },
      errors: [{ message: 'Session store unavailable; please retry shortly.', path: ['me'] }],
    });
    // The client's cookie is left as it was.
    expect(setCookieFor(read)).toBeUndefined();

    // A new visitor's first write needs no read: it fails at the commit, before the response leaves.
    const write = await gql('mutation { note(text: "lost") }');
    expect(write.status).toBe(503);
    expect(write.body).toEqual({
      statusCode: 503,
      message: 'Session store unavailable; please retry shortly.',
      error: 'Service Unavailable',
    });
    expect(setCookieFor(write)).toBeUndefined();

    store.down = false;
    expect(bodyOf(await gql('{ me }', {}, cookie))).toEqual({ data: { me: 'ann' } });
  });

  it('logout destroys the session: its cookie is expired and the old cookie no longer logs in', async () => {
    const cookie = await logIn();
    const response = await gql('mutation { logout }', {}, cookie);
    expect(bodyOf(response)).toEqual({ data: { logout: true } });
    expect(setCookieFor(response)).toMatch(/^session_id=; .*Expires=Thu, 01 Jan 1970/);
    const after = await gql('{ me secret }', {}, cookie);
    expect(bodyOf(after).data).toBeNull();
    expect(bodyOf(after).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(bodyOf(await gql('{ me }', {}, cookie))).toEqual({ data: { me: null } });
  });
});
