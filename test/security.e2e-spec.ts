import { randomBytes } from 'node:crypto';
import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  ForbiddenException,
  Get,
  HttpCode,
  Injectable,
  type INestApplication,
  Logger,
  Module,
  Post,
  Scope,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { APP_GUARD, HttpAdapterHost } from '@nestjs/core';
import {
  AuthData,
  Security,
  type SecurityCheck,
  type SecurityContext,
  SecurityDeniedException,
  type SecurityFn,
  Session,
  SessionAuthGuard,
  SessionModule,
  SessionUnauthorizedException,
  deny,
  redirectTo,
} from '@novanest/session';
import request from 'supertest';
import { setCookieFor } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, type Platform, startApp } from './support/platforms.js';

/** How many times each handler ran: a denied request must leave its count alone. */
const handlerRuns = new Map<string, number>();
function ran(name: string): number {
  handlerRuns.set(name, (handlerRuns.get(name) ?? 0) + 1);
  return handlerRuns.get(name) ?? 0;
}
function runsOf(name: string): number {
  return handlerRuns.get(name) ?? 0;
}

function wellFormedId(): string {
  return randomBytes(32).toString('base64url');
}

const weirdResults: Record<string, unknown> = {
  undefined: undefined,
  null: null,
  string: 'true',
  number: 1,
  array: [{ user: 'ann' }],
  date: new Date(),
  map: new Map([['user', 'ann']]),
  promiseOfUndefined: undefined,
};

// ---------------------------------------------------------------- results

@Controller('r')
@UseGuards(SessionAuthGuard)
class ResultsController {
  @Get('true')
  @Security(() => true)
  passTrue(@AuthData() auth: unknown) {
    return { ran: ran('true'), auth: auth ?? null };
  }

  @Get('object')
  @Security(async () => ({ user: 'ann', roles: ['admin'] }))
  passObject(@AuthData() auth: unknown, @AuthData('user') user: string, @AuthData('missing') missing: unknown) {
    return { ran: ran('object'), auth, user, missing: missing ?? null };
  }

  @Get('false')
  @Security(() => false)
  denyFalse() {
    return { ran: ran('false') };
  }

  @Get('deny-json')
  @Security(() => deny({ status: 403, headers: { 'X-Reason': 'blocked', 'WWW-Authenticate': 'Bearer' }, body: { reason: 'blocked' } }))
  denyJson() {
    return { ran: ran('deny-json') };
  }

  @Get('deny-text')
  @Security(async () => deny({ status: 429, headers: { 'retry-after': '30' }, body: 'Slow down' }))
  denyText() {
    return { ran: ran('deny-text') };
  }

  @Get('deny-default')
  @Security(() => deny({ status: 403 }))
  denyDefault() {
    return { ran: ran('deny-default') };
  }

  @Get('redirect')
  @Security(() => redirectTo('/login'))
  redirect() {
    return { ran: ran('redirect') };
  }

  @Get('redirect-303')
  @Security(async () => redirectTo('/elsewhere?from=r', 303))
  redirect303() {
    return { ran: ran('redirect-303') };
  }

  @Get('redirect-unicode-query')
  @Security(() => redirectTo('/login?next=/→'))
  redirectUnicodeQuery() {
    return { ran: ran('redirect-unicode-query') };
  }

  @Get('redirect-unicode-path')
  @Security(() => redirectTo('/café'))
  redirectUnicodePath() {
    return { ran: ran('redirect-unicode-path') };
  }

  @Get('deny-unicode-header')
  @Security(() => deny({ status: 403, headers: { 'X-Note': '→' } }))
  denyUnicodeHeader() {
    return { ran: ran('deny-unicode-header') };
  }

  @Get('throw')
  @Security(() => {
    throw new Error('boom: users table missing');
  })
  throws() {
    return { ran: ran('throw') };
  }

  @Get('reject')
  @Security(async () => Promise.reject(new Error('async boom')))
  rejects() {
    return { ran: ran('reject') };
  }

  @Get('throw-string')
  @Security(() => {
    throw 'not even an Error';
  })
  throwsString() {
    return { ran: ran('throw-string') };
  }

  @Get('http-exception')
  @Security(() => {
    throw new ForbiddenException('Members only');
  })
  httpException() {
    return { ran: ran('http-exception') };
  }

  @Get('bad-deny')
  @Security(() => deny({ status: 200 }))
  badDeny() {
    return { ran: ran('bad-deny') };
  }

  @Get('header-injection')
  @Security(({ params }) => redirectTo(String(params.next)))
  headerInjection() {
    return { ran: ran('header-injection') };
  }

  @Get('weird/:kind')
  @Security(async ({ params }) => {
    const kind = String(params.kind);
    return weirdResults[kind] as boolean;
  })
  weird() {
    return { ran: ran('weird') };
  }

  @Get('public')
  @Security(false)
  open(@AuthData() auth: unknown) {
    return { ran: ran('public'), auth: auth ?? null };
  }

  @Get('unmarked')
  unmarked() {
    return { ran: ran('unmarked') };
  }

  @Get('unmarked-once')
  unmarkedOnce() {
    return { ran: ran('unmarked-once') };
  }

  @Get('public-quiet')
  @Security(false)
  publicQuiet() {
    return { ran: ran('public-quiet') };
  }

  /** DESIGN's shape, `{ authed, username }`, written the way that once let everyone in. */
  @Get('authed')
  @Security(({ params }) => {
    const user = params.user === 'ann' ? 'ann' : undefined;
    return { authed: !!user, user };
  })
  authed(@AuthData('user') user: string) {
    return { ran: ran('authed'), user };
  }

  @Post('mark')
  @Security(false)
  @HttpCode(200)
  async mark(@Session() session: Session) {
    await session.set('mark', 1);
    return { ok: true };
  }

  @Get('read')
  @Security(false)
  async read(@Session() session: Session) {
    return session.all();
  }

  @Post('write-then-deny')
  @Security(async ({ session }) => {
    await session.set('sneaky', true);
    await session.delete('mark');
    return false;
  })
  writeThenDeny() {
    return { ran: ran('write-then-deny') };
  }

  @Post('write-then-pass')
  @Security(async ({ session }) => {
    await session.set('seen', true);
    return true;
  })
  @HttpCode(200)
  writeThenPass() {
    return { ran: ran('write-then-pass') };
  }

  @Post('params/:id')
  @Security(({ params }) => ({ params: { ...params }, prototype: Object.getPrototypeOf(params) }))
  @HttpCode(200)
  params(@AuthData() auth: unknown) {
    return auth;
  }
}

@Module({ imports: [SessionModule.forRoot()], controllers: [ResultsController] })
class ResultsModule {}

// ---------------------------------------------------------------- store down

const flakyStore = new InstrumentedStore();

@Controller('s')
@UseGuards(SessionAuthGuard)
class StoreController {
  @Get('me')
  @Security(async ({ session }) => {
    const user = await session.get<string>('user');
    return user === undefined ? false : { user };
  })
  me(@AuthData('user') user: string) {
    return { ran: ran('store-me'), user };
  }

  @Post('login')
  @Security(false)
  @HttpCode(200)
  async login(@Session() session: Session) {
    await session.set('user', 'dora');
    return { ok: true };
  }
}

@Module({ imports: [SessionModule.forRoot(flakyStore)], controllers: [StoreController] })
class StoreModule {}

// ---------------------------------------------------------------- classes

@Injectable()
class UsersService {
  static instances = 0;
  private readonly tokens = new Map([['t-ann', 'ann']]);
  constructor() {
    UsersService.instances += 1;
  }
  byToken(token: unknown): string | undefined {
    return typeof token === 'string' ? this.tokens.get(token) : undefined;
  }
}

@Injectable()
class TokenSecurity implements SecurityCheck {
  static instances = 0;
  constructor(private readonly users: UsersService) {
    TokenSecurity.instances += 1;
  }
  check({ params }: SecurityContext) {
    const user = this.users.byToken(params.token);
    return user === undefined ? deny({ status: 403, body: { message: 'Unknown token' } }) : { user };
  }
}

/** Provided by no module: the guard creates it, with UsersService injected. */
@Injectable()
class UnregisteredSecurity implements SecurityCheck {
  static instances = 0;
  constructor(private readonly users: UsersService) {
    UnregisteredSecurity.instances += 1;
  }
  async check({ request }: SecurityContext<{ headers: Record<string, string | undefined> }>) {
    const user = this.users.byToken(request.headers['x-token']);
    return user === undefined ? false : { user, via: 'created' };
  }
}

@Injectable({ scope: Scope.REQUEST })
class PerRequestSecurity implements SecurityCheck {
  static instances = 0;
  constructor(private readonly users: UsersService) {
    PerRequestSecurity.instances += 1;
  }
  check({ params }: SecurityContext) {
    return this.users.byToken(params.token) ? true : redirectTo('/login');
  }
}

@Controller('c')
@UseGuards(SessionAuthGuard)
class ClassController {
  @Get('token')
  @Security(TokenSecurity)
  token(@AuthData('user') user: string) {
    return { ran: ran('class-token'), user };
  }

  @Get('header')
  @Security(UnregisteredSecurity)
  header(@AuthData() auth: unknown) {
    return { ran: ran('class-header'), auth };
  }

  @Get('per-request')
  @Security(PerRequestSecurity)
  perRequest() {
    return { ran: ran('class-per-request') };
  }
}

@Module({
  imports: [SessionModule.forRoot()],
  controllers: [ClassController],
  providers: [UsersService, TokenSecurity, PerRequestSecurity],
})
class ClassModule {}

// ---------------------------------------------------------------- override

const denyAll: SecurityFn = () => deny({ status: 403, body: 'Controller says no' });

@Controller('o')
@UseGuards(SessionAuthGuard)
@Security(denyAll)
class OverrideController {
  @Get('inherited')
  inherited() {
    return { ran: ran('override-inherited') };
  }

  @Get('public')
  @Security(false)
  open() {
    return { ran: ran('override-public') };
  }

  @Get('method')
  @Security(() => ({ level: 'method' }))
  method(@AuthData('level') level: string) {
    return { ran: ran('override-method'), level };
  }
}

@Controller('p')
@UseGuards(SessionAuthGuard)
@Security(false)
class PublicController {
  @Get('open')
  open() {
    return { ran: ran('public-open') };
  }

  @Get('closed')
  @Security(() => false)
  closed() {
    return { ran: ran('public-closed') };
  }
}

@Module({ imports: [SessionModule.forRoot()], controllers: [OverrideController, PublicController] })
class OverrideModule {}

// ---------------------------------------------------------------- global guard + user filter

@Catch(SecurityDeniedException)
class TeapotDenialFilter implements ExceptionFilter {
  constructor(private readonly adapterHost: HttpAdapterHost) {}
  catch(exception: SecurityDeniedException, host: ArgumentsHost) {
    const kind = exception instanceof SessionUnauthorizedException ? 'unauthorized' : 'denied';
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), { caught: kind }, 418);
  }
}

@Controller('g')
class GlobalController {
  @Get('open')
  open() {
    return { ran: ran('global-open') };
  }

  @Get('closed')
  @Security(() => false)
  closed() {
    return { ran: ran('global-closed') };
  }
}

@Controller('g2')
@UseFilters(TeapotDenialFilter)
class FilteredController {
  @Get('denied')
  @Security(() => deny({ status: 403 }))
  denied() {
    return { ran: ran('global-denied') };
  }
}

@Module({
  imports: [SessionModule.forRoot()],
  controllers: [GlobalController, FilteredController],
  providers: [{ provide: APP_GUARD, useClass: SessionAuthGuard }],
})
class GlobalModule {}

// ================================================================= suites

async function withApp<T>(platform: Platform, module: new () => unknown, run: (app: INestApplication) => Promise<T>) {
  const app = await startApp(platform, module);
  try {
    return await run(app);
  } finally {
    await app.close();
  }
}

describe.each(PLATFORMS)('security results on %s', (platform) => {
  let app: INestApplication;
  let server: ReturnType<INestApplication['getHttpServer']>;
  let errors: ReturnType<typeof vi.spyOn>;
  let warnings: ReturnType<typeof vi.spyOn>;

  beforeAll(async () => {
    app = await startApp(platform, ResultsModule);
    server = app.getHttpServer();
  });
  afterAll(async () => {
    await app.close();
  });
  beforeEach(() => {
    errors = vi.spyOn(Logger.prototype, 'error');
    warnings = vi.spyOn(Logger.prototype, 'warn');
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('true passes without auth data', async () => {
    const before = runsOf('true');
    const response = await request(server).get('/r/true');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ ran: before + 1, auth: null });
  });

  it('an object passes and becomes the auth data, whole or by key', async () => {
    const response = await request(server).get('/r/object');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      auth: { user: 'ann', roles: ['admin'] },
      user: 'ann',
      missing: null,
    });
  });

  it('false is a 401: JSON for JSON clients, short text otherwise, and the handler never runs', async () => {
    const before = runsOf('false');
    const json = await request(server).get('/r/false').set('Accept', 'application/json');
    expect(json.status).toBe(401);
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.body).toEqual({
      statusCode: 401,
      message: 'Authentication required; please log in.',
      error: 'Unauthorized',
    });

    const text = await request(server).get('/r/false').set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8');
    expect(text.status).toBe(401);
    expect(text.headers['content-type']).toMatch(/^text\/plain/);
    expect(text.text).toBe('Authentication required; please log in.\n');

    const bare = await request(server).get('/r/false');
    expect(bare.status).toBe(401);
    expect(bare.text).toBe('Authentication required; please log in.\n');

    expect(runsOf('false')).toBe(before);
    expect(setCookieFor(json)).toBeUndefined();
  });

  it('deny() sends its status, headers and JSON body', async () => {
    const response = await request(server).get('/r/deny-json');
    expect(response.status).toBe(403);
    expect(response.headers['x-reason']).toBe('blocked');
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body).toEqual({ reason: 'blocked' });
    expect(runsOf('deny-json')).toBe(0);
  });

  it('deny() sends a text body as text', async () => {
    const response = await request(server).get('/r/deny-text').set('Accept', 'application/json');
    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toBe('30');
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toBe('Slow down');
    expect(runsOf('deny-text')).toBe(0);
  });

  it('deny() without a body sends the status text, JSON or text as the client accepts', async () => {
    const json = await request(server).get('/r/deny-default').set('Accept', 'application/json');
    expect(json.status).toBe(403);
    expect(json.body).toEqual({ statusCode: 403, message: 'Forbidden', error: 'Forbidden' });
    const text = await request(server).get('/r/deny-default');
    expect(text.status).toBe(403);
    expect(text.text).toBe('Forbidden\n');
  });

  it('redirectTo() is a 302 with Location, and 303 when asked', async () => {
    const response = await request(server).get('/r/redirect');
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/login');
    expect(runsOf('redirect')).toBe(0);

    const seeOther = await request(server).get('/r/redirect-303');
    expect(seeOther.status).toBe(303);
    expect(seeOther.headers.location).toBe('/elsewhere?from=r');
    expect(runsOf('redirect-303')).toBe(0);
  });

  it.each([
    ['/r/redirect-unicode-query', '/login?next=/%E2%86%92'],
    ['/r/redirect-unicode-path', '/caf%C3%A9'],
  ])('redirectTo() percent-encodes non-ASCII the same on every platform (%s)', async (route, location) => {
    const response = await request(server).get(route);
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe(location);
    expect(runsOf(route.slice(3))).toBe(0);
    expect(errors).not.toHaveBeenCalled();
  });

  it('deny() with a non-ASCII header value is the logged 500 of a failing security function', async () => {
    const response = await request(server).get('/r/deny-unicode-header').set('Accept', 'application/json');
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ statusCode: 500, message: 'Security check failed', error: 'Internal Server Error' });
    expect(response.headers['x-note']).toBeUndefined();
    expect(runsOf('deny-unicode-header')).toBe(0);
    expect(errors).toHaveBeenCalledTimes(1);
    expect(errors).toHaveBeenCalledWith(
      expect.stringMatching(/^Security of ResultsController\.denyUnicodeHeader threw: deny\(\): header X-Note must be /),
      expect.any(String),
    );
  });

  it.each(['throw', 'reject', 'throw-string'])('a security function that fails (%s) is a logged 500, never a pass', async (route) => {
    const response = await request(server).get(`/r/${route}`).set('Accept', 'application/json');
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ statusCode: 500, message: 'Security check failed', error: 'Internal Server Error' });
    // The cause stays in the log, not in the response.
    expect(response.text).not.toMatch(/boom|not even/);
    expect(runsOf(route)).toBe(0);
    expect(errors).toHaveBeenCalledWith(
      expect.stringMatching(new RegExp(`^Security of ResultsController\\.\\w+ threw: `)),
      route === 'throw-string' ? undefined : expect.any(String),
    );
    expect(setCookieFor(response)).toBeUndefined();
  });

  it('an HttpException thrown on purpose keeps its status', async () => {
    const response = await request(server).get('/r/http-exception').set('Accept', 'application/json');
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ statusCode: 403, message: 'Members only' });
    expect(runsOf('http-exception')).toBe(0);
  });

  it('an invalid deny() or a redirect that would split headers is a 500, not a pass', async () => {
    const badDeny = await request(server).get('/r/bad-deny');
    expect(badDeny.status).toBe(500);
    expect(runsOf('bad-deny')).toBe(0);

    const split = await request(server).get('/r/header-injection').query({ next: '/x\r\nSet-Cookie: evil=1' });
    expect(split.status).toBe(500);
    expect(split.headers['set-cookie']).toBeUndefined();
    expect(runsOf('header-injection')).toBe(0);
    expect(errors).toHaveBeenCalledTimes(2);
  });

  it.each(Object.keys(weirdResults))('fails closed on a result that is %s: 401 and a warning', async (kind) => {
    const before = runsOf('weird');
    const response = await request(server).get(`/r/weird/${kind}`).set('Accept', 'application/json');
    expect(response.status).toBe(401);
    expect(runsOf('weird')).toBe(before);
    expect(warnings).toHaveBeenCalledWith(expect.stringMatching(/^Security of ResultsController\.weird returned .*denying the request$/));
  });

  it('@Security(false) and routes without @Security are public', async () => {
    const open = await request(server).get('/r/public');
    expect(open.status).toBe(200);
    expect(open.body.auth).toBeNull();
    const unmarked = await request(server).get('/r/unmarked');
    expect(unmarked.status).toBe(200);
    expect(unmarked.body.ran).toBeGreaterThan(0);
  });

  it('a route without @Security warns once that it is public; @Security(false) does not', async () => {
    for (let i = 0; i < 3; i++) expect((await request(server).get('/r/unmarked-once')).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await request(server).get('/r/public-quiet')).status).toBe(200);
    const unmarkedWarnings = warnings.mock.calls.filter((call: unknown[]) => String(call[0]).includes('has no @Security'));
    expect(unmarkedWarnings).toEqual([
      [
        'ResultsController.unmarkedOnce has no @Security, so SessionAuthGuard lets every request through: the ' +
          'route is public. Mark it @Security(false) to make that explicit, or give it a security function.',
      ],
    ]);
  });

  it('an auth-data object with authed: false is a 401 like false, with one warning per route', async () => {
    const before = runsOf('authed');
    for (let i = 0; i < 2; i++) {
      const denied = await request(server).get('/r/authed').set('Accept', 'application/json');
      expect(denied.status).toBe(401);
      expect(denied.body.message).toBe('Authentication required; please log in.');
      expect(setCookieFor(denied)).toBeUndefined();
    }
    expect(runsOf('authed')).toBe(before);
    expect(warnings).toHaveBeenCalledTimes(1);
    expect(warnings).toHaveBeenCalledWith(
      expect.stringMatching(/^Security of ResultsController\.authed returned an object with authed: false; denying/),
    );

    const passed = await request(server).get('/r/authed').query({ user: 'ann' });
    expect(passed.status).toBe(200);
    expect(passed.body).toEqual({ ran: before + 1, user: 'ann' });
  });

  it('a denied request commits nothing its security function staged and sends no cookie', async () => {
    const browser = request.agent(server);
    expect((await browser.post('/r/mark')).status).toBe(200);
    const denied = await browser.post('/r/write-then-deny');
    expect(denied.status).toBe(401);
    expect(setCookieFor(denied)).toBeUndefined();
    expect(runsOf('write-then-deny')).toBe(0);
    const after = await browser.get('/r/read');
    expect(after.body).toEqual({ mark: 1 });
  });

  it('a passing security function keeps what it wrote', async () => {
    const browser = request.agent(server);
    const passed = await browser.post('/r/write-then-pass');
    expect(passed.status).toBe(200);
    expect(setCookieFor(passed)).toBeDefined();
    expect((await browser.get('/r/read')).body).toEqual({ seen: true });
  });

  it('a planted cookie on a denied request gets no cookie back', async () => {
    const planted = wellFormedId();
    const denied = await request(server).post('/r/write-then-deny').set('Cookie', `session_id=${planted}`);
    expect(denied.status).toBe(401);
    expect(setCookieFor(denied)).toBeUndefined();
  });

  it("merges Nova's params: query < body < path, without prototype keys", async () => {
    const response = await request(server)
      .post('/r/params/from-path')
      .query({ id: 'from-query', q: 'query-only', shared: 'query' })
      .send({ id: 'from-body', shared: 'body', b: 'body-only', constructor: 'x', nested: { a: 1 } });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      params: { id: 'from-path', q: 'query-only', shared: 'body', b: 'body-only', nested: { a: 1 } },
      prototype: null,
    });

    const proto = await request(server)
      .post('/r/params/p')
      .set('Content-Type', 'application/json')
      .send('{"__proto__":{"admin":true},"user":"u"}');
    // Express keeps the key as data and the guard drops it; Fastify refuses the body outright.
    if (proto.status === 200) expect(proto.body.params).toEqual({ id: 'p', user: 'u' });
    else expect(proto.status).toBe(400);
    expect(({} as { admin?: boolean }).admin).toBeUndefined();

    const array = await request(server)
      .post('/r/params/a')
      .query({ q: '1' })
      .send([{ id: 'x', evil: true }]);
    expect(array.status).toBe(200);
    expect(array.body.params).toEqual({ id: 'a', q: '1' });

    const form = await request(server).post('/r/params/f').type('form').send('user=form&id=form');
    expect(form.body.params).toEqual({ id: 'f', user: 'form' });
  });
});

describe.each(PLATFORMS)('security and an unavailable store on %s', (platform) => {
  afterEach(() => {
    flakyStore.down = false;
  });

  it('a store failure inside a security function is a 503, never a 500 or a pass, and it recovers', async () => {
    await withApp(platform, StoreModule, async (app) => {
      const server = app.getHttpServer();
      const browser = request.agent(server);
      expect((await browser.post('/s/login')).status).toBe(200);
      expect((await browser.get('/s/me')).body).toMatchObject({ user: 'dora' });
      const before = runsOf('store-me');

      flakyStore.down = true;
      const down = await browser.get('/s/me').set('Accept', 'application/json');
      expect(down.status).toBe(503);
      expect(down.body.message).toBe('Session store unavailable; please retry shortly.');
      expect(setCookieFor(down)).toBeUndefined();
      expect(runsOf('store-me')).toBe(before);

      const planted = await request(server).get('/s/me').set('Cookie', `session_id=${wellFormedId()}`);
      expect(planted.status).toBe(503);

      flakyStore.down = false;
      const back = await browser.get('/s/me');
      expect(back.status).toBe(200);
      expect(back.body).toMatchObject({ user: 'dora' });
    });
  });
});

describe.each(PLATFORMS)('security classes on %s', (platform) => {
  it('resolves a provided SecurityCheck with its injected service, once', async () => {
    await withApp(platform, ClassModule, async (app) => {
      const server = app.getHttpServer();
      const constructed = TokenSecurity.instances;
      const ok = await request(server).get('/c/token').query({ token: 't-ann' });
      expect(ok.status).toBe(200);
      expect(ok.body.user).toBe('ann');
      const bad = await request(server).get('/c/token').query({ token: 'nope' });
      expect(bad.status).toBe(403);
      expect(bad.body).toEqual({ message: 'Unknown token' });
      await request(server).get('/c/token').query({ token: 't-ann' });
      expect(TokenSecurity.instances).toBe(constructed);
    });
  });

  it('creates an unregistered SecurityCheck through DI, once, with its service injected', async () => {
    await withApp(platform, ClassModule, async (app) => {
      const server = app.getHttpServer();
      const before = UnregisteredSecurity.instances;
      const ok = await request(server).get('/c/header').set('X-Token', 't-ann');
      expect(ok.status).toBe(200);
      expect(ok.body.auth).toEqual({ user: 'ann', via: 'created' });
      const denied = await request(server).get('/c/header').set('X-Token', 'wrong');
      expect(denied.status).toBe(401);
      expect(UnregisteredSecurity.instances).toBe(before + 1);
    });
  });

  it('resolves a request-scoped SecurityCheck per request', async () => {
    await withApp(platform, ClassModule, async (app) => {
      const server = app.getHttpServer();
      const before = PerRequestSecurity.instances;
      expect((await request(server).get('/c/per-request').query({ token: 't-ann' })).status).toBe(200);
      const denied = await request(server).get('/c/per-request');
      expect(denied.status).toBe(302);
      expect(denied.headers.location).toBe('/login');
      expect(PerRequestSecurity.instances).toBe(before + 2);
    });
  });
});

describe.each(PLATFORMS)('method over class on %s', (platform) => {
  it('a handler inherits its controller security unless it sets its own', async () => {
    await withApp(platform, OverrideModule, async (app) => {
      const server = app.getHttpServer();
      const inherited = await request(server).get('/o/inherited');
      expect(inherited.status).toBe(403);
      expect(inherited.text).toBe('Controller says no');
      expect(runsOf('override-inherited')).toBe(0);

      const open = await request(server).get('/o/public');
      expect(open.status).toBe(200);
      expect(open.body.ran).toBeGreaterThan(0);

      const method = await request(server).get('/o/method');
      expect(method.status).toBe(200);
      expect(method.body.level).toBe('method');

      expect((await request(server).get('/p/open')).status).toBe(200);
      const closed = await request(server).get('/p/closed');
      expect(closed.status).toBe(401);
      expect(runsOf('public-closed')).toBe(0);
    });
  });
});

describe.each(PLATFORMS)('global guard (APP_GUARD) on %s', (platform) => {
  it('secures @Security routes of every controller and leaves the others public', async () => {
    await withApp(platform, GlobalModule, async (app) => {
      const server = app.getHttpServer();
      expect((await request(server).get('/g/open')).status).toBe(200);
      const closed = await request(server).get('/g/closed').set('Accept', 'application/json');
      expect(closed.status).toBe(401);
      expect(closed.body.statusCode).toBe(401);
      expect(runsOf('global-closed')).toBe(0);
    });
  });

  it("lets a user's exception filter catch the typed denials", async () => {
    await withApp(platform, GlobalModule, async (app) => {
      const server = app.getHttpServer();
      const filtered = await request(server).get('/g2/denied');
      expect(filtered.status).toBe(418);
      expect(filtered.body).toEqual({ caught: 'denied' });
      expect(runsOf('global-denied')).toBe(0);
    });
  });
});
