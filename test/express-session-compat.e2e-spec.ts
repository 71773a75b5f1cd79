import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  InternalServerErrorException,
  Module,
  Param,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { AuthGuard, PassportModule, PassportSerializer, PassportStrategy } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import flash from 'connect-flash';
import { csrfSync } from 'csrf-sync';
import type { Request } from 'express';
import passport from 'passport';
import { Strategy } from 'passport-local';
import request from 'supertest';
import { CookieStore, expressSession, MemoryStore, SessionModule, type SessionStore } from '@novanest/session';
import { cookieValue, setCookies } from './support/cookies.js';
import { describeCompatOnRedis } from './support/compat-on-redis.js';

// ---- The Nest docs' Passport session recipe, unchanged but for the session line in boot() ----

interface User {
  userId: number;
  username: string;
  password: string;
}

@Injectable()
class UsersService {
  private readonly users: User[] = [
    { userId: 1, username: 'john', password: 'changeme' },
    { userId: 2, username: 'maria', password: 'guess' },
  ];

  async findOne(username: string): Promise<User | undefined> {
    return this.users.find((user) => user.username === username);
  }
}

@Injectable()
class AuthService {
  constructor(private readonly users: UsersService) {}

  async validateUser(username: string, pass: string): Promise<Omit<User, 'password'> | null> {
    const user = await this.users.findOne(username);
    if (user === undefined || user.password !== pass) return null;
    const { password: _password, ...result } = user;
    return result;
  }
}

@Injectable()
class LocalStrategy extends PassportStrategy(Strategy) {
  constructor(private readonly auth: AuthService) {
    super();
  }

  async validate(username: string, password: string): Promise<Omit<User, 'password'>> {
    const user = await this.auth.validateUser(username, password);
    if (user === null) throw new UnauthorizedException();
    return user;
  }
}

@Injectable()
class SessionSerializer extends PassportSerializer {
  serializeUser(user: unknown, done: (err: Error | null, user: unknown) => void): void {
    done(null, user);
  }

  deserializeUser(payload: unknown, done: (err: Error | null, payload: unknown) => void): void {
    done(null, payload);
  }
}

@Injectable()
class LocalAuthGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    const req = context.switchToHttp().getRequest<Request>();
    await super.logIn(req);
    return result;
  }
}

/** The same login, keeping what the session held before (Passport's keepSessionInfo). */
@Injectable()
class KeepInfoLocalAuthGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    const req = context.switchToHttp().getRequest<Request>();
    await new Promise<void>((resolve, reject) =>
      // passport 0.7 reads keepSessionInfo; @types/passport does not list it yet.
      req.logIn(req.user!, { keepSessionInfo: true } as Parameters<Request['logIn']>[1], (error) => (error ? reject(error) : resolve())),
    );
    return result;
  }
}

@Injectable()
class AuthenticatedGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<Request>().isAuthenticated();
  }
}

@Controller('auth')
class AuthController {
  @UseGuards(LocalAuthGuard)
  @Post('login')
  login(@Req() req: Request) {
    return req.user;
  }

  @UseGuards(KeepInfoLocalAuthGuard)
  @Post('login-keep')
  loginKeep(@Req() req: Request) {
    return req.user;
  }

  @UseGuards(AuthenticatedGuard)
  @Get('profile')
  profile(@Req() req: Request) {
    return req.user;
  }

  @Post('logout')
  async logout(@Req() req: Request) {
    await new Promise<void>((resolve, reject) => req.logout((error) => (error ? reject(error) : resolve())));
    return { ok: true };
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

let held = deferred();

// ---- Routes for the ecosystem: plain req.session use, connect-flash, csrf-sync ----

type SessionRequest = Request & { session: Record<string, unknown>; flash(type: string, message?: string): unknown };

@Controller()
class EcosystemController {
  @Post('visit')
  visit(@Req() req: SessionRequest) {
    req.session.visited = true;
    return { id: req.sessionID };
  }

  @Post('mark/:n')
  mark(@Req() req: SessionRequest, @Param('n') n: string) {
    req.session[`k${n}`] = Number(n);
    return { ok: true };
  }

  @Post('set/:key/:value')
  set(@Req() req: SessionRequest, @Param('key') key: string, @Param('value') value: string) {
    req.session[key] = value;
    return { ok: true };
  }

  /** Reads the session at once, then waits for the test before changing one key. */
  @Post('held/:key/:value')
  async held(@Req() req: SessionRequest, @Param('key') key: string, @Param('value') value: string) {
    await held.promise;
    req.session[key] = value;
    return { ok: true };
  }

  @Post('set-then-fail')
  setThenFail(@Req() req: SessionRequest) {
    req.session.doomed = true;
    throw new InternalServerErrorException();
  }

  @Post('bad-value')
  badValue(@Req() req: SessionRequest) {
    req.session.when = new Date(0);
    return { ok: true };
  }

  /** A change the assignment check cannot see: a Date nested in a plain object. */
  @Post('bad-nested')
  badNested(@Req() req: SessionRequest) {
    req.session.visited = 'changed';
    req.session.profile = {};
    (req.session.profile as Record<string, unknown>).when = new Date(0);
    return { ok: true };
  }

  /** A value over the 64 KiB default of maxSessionBytes, assigned where the size is not checked. */
  @Post('too-large')
  tooLarge(@Req() req: SessionRequest) {
    req.session.visited = 'changed';
    req.session.blob = 'x'.repeat(100 * 1024);
    return { ok: true };
  }

  @Post('reserved')
  reserved(@Req() req: SessionRequest) {
    (req.session as Record<string, unknown>).save = 'oops';
    return { ok: true };
  }

  @Post('list')
  list(@Req() req: SessionRequest) {
    req.session.list = [];
    return { ok: true };
  }

  @Post('push/:n')
  push(@Req() req: SessionRequest, @Param('n') n: string) {
    // A nested change: no assignment to req.session itself.
    (req.session.list as number[]).push(Number(n));
    return { ok: true };
  }

  @Get('data')
  data(@Req() req: SessionRequest) {
    return { ...req.session };
  }

  @Post('flash')
  setFlash(@Req() req: SessionRequest) {
    req.flash('info', 'Saved.');
    return { ok: true };
  }

  @Get('flash')
  readFlash(@Req() req: SessionRequest) {
    return { info: req.flash('info') };
  }

  @Get('csrf')
  csrf(@Req() req: Request & { csrfToken(): string }) {
    return { token: req.csrfToken() };
  }

  @Post('protected')
  guarded() {
    return { ok: true };
  }
}

function appModule(store: SessionStore) {
  @Module({
    imports: [SessionModule.forRoot(store), PassportModule.register({ session: true })],
    controllers: [AuthController, EcosystemController],
    providers: [UsersService, AuthService, LocalStrategy, SessionSerializer],
  })
  class AppModule {}
  return AppModule;
}

const { csrfSynchronisedProtection } = csrfSync();

async function boot(store: SessionStore, options: { csrf?: boolean } = {}): Promise<INestApplication> {
  const testing = await Test.createTestingModule({ imports: [appModule(store)] }).compile();
  const app = testing.createNestApplication({ logger: false });
  app.use(expressSession(app)); // where app.use(session({ ... })) was
  app.use(passport.initialize());
  app.use(passport.session());
  app.use(flash());
  if (options.csrf === true) app.use(csrfSynchronisedProtection);
  await app.listen(0, '127.0.0.1');
  return app;
}

/** A session with a record: the cookie of a first request that wrote to it. */
async function visited(app: INestApplication): Promise<string> {
  const response = await request(app.getHttpServer()).post('/visit').expect(201);
  expect(response.body.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(cookieValue(response)).toBe(response.body.id);
  return response.body.id as string;
}

function login(app: INestApplication, username: string, password: string, cookie?: string) {
  return request(app.getHttpServer())
    .post('/auth/login')
    .set('Cookie', cookie === undefined ? [] : [`session_id=${cookie}`])
    .send({ username, password });
}

async function withToken(app: INestApplication, cookie: string): Promise<string> {
  const page = await request(app.getHttpServer()).get('/csrf').set('Cookie', `session_id=${cookie}`).expect(200);
  return page.body.token as string;
}

describe('express-session compatibility: the Nest docs Passport recipe', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await boot(new MemoryStore());
  });
  afterAll(() => app.close());

  it('logs in with 201, the user without password and a new session id', async () => {
    const before = await visited(app);
    const response = await login(app, 'john', 'changeme', before).expect(201);
    expect(response.body).toEqual({ userId: 1, username: 'john' });
    const after = cookieValue(response);
    expect(after).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(after).not.toBe(before);
    // The id known before login is worthless after it.
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', `session_id=${before}`).expect(403);
    await request(app.getHttpServer())
      .get('/auth/profile')
      .set('Cookie', `session_id=${after}`)
      .expect(200, { userId: 1, username: 'john' });
  });

  it('refuses a wrong password with 401 and the profile without a cookie with 403', async () => {
    const response = await login(app, 'maria', 'wrong');
    expect(response.status).toBe(401);
    await request(app.getHttpServer()).get('/auth/profile').expect(403);
  });

  it('a request writes only the keys it changed, not stale copies of the others', async () => {
    const cookie = await visited(app);
    const server = app.getHttpServer();
    await request(server).post('/set/colour/red').set('Cookie', `session_id=${cookie}`).expect(201);
    held = deferred();
    // This request loads colour=red, then waits while another request changes colour.
    const slow = request(server)
      .post('/held/size/large')
      .set('Cookie', `session_id=${cookie}`)
      .then((response) => response);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await request(server).post('/set/colour/blue').set('Cookie', `session_id=${cookie}`).expect(201);
    held.resolve();
    expect((await slow).status).toBe(201);
    const data = await request(server).get('/data').set('Cookie', `session_id=${cookie}`).expect(200);
    expect(data.body).toEqual({ visited: true, colour: 'blue', size: 'large' });
  });

  it("Passport's keepSessionInfo carries the session's data over to the new id", async () => {
    const before = await visited(app);
    const response = await request(app.getHttpServer())
      .post('/auth/login-keep')
      .set('Cookie', `session_id=${before}`)
      .send({ username: 'john', password: 'changeme' })
      .expect(201);
    const after = cookieValue(response)!;
    expect(after).not.toBe(before);
    const data = await request(app.getHttpServer()).get('/data').set('Cookie', `session_id=${after}`).expect(200);
    expect(data.body).toEqual({ visited: true, passport: { user: { userId: 1, username: 'john' } } });
  });

  it('a 5xx response commits none of its req.session changes', async () => {
    const cookie = await visited(app);
    await request(app.getHttpServer()).post('/set-then-fail').set('Cookie', `session_id=${cookie}`).expect(500);
    const data = await request(app.getHttpServer()).get('/data').set('Cookie', `session_id=${cookie}`).expect(200);
    expect(data.body).toEqual({ visited: true });
  });

  it('refuses a value JSON cannot carry, and the API names, where they are assigned', async () => {
    const cookie = await visited(app);
    await request(app.getHttpServer()).post('/bad-value').set('Cookie', `session_id=${cookie}`).expect(500);
    await request(app.getHttpServer()).post('/reserved').set('Cookie', `session_id=${cookie}`).expect(500);
    const data = await request(app.getHttpServer()).get('/data').set('Cookie', `session_id=${cookie}`).expect(200);
    expect(data.body).toEqual({ visited: true });
  });

  it('a nested value it cannot save, or a session over maxSessionBytes, fails the request (500) and loses nothing', async () => {
    const cookie = await visited(app);
    for (const path of ['/bad-nested', '/too-large']) {
      const failed = await request(app.getHttpServer()).post(path).set('Cookie', `session_id=${cookie}`).expect(500);
      expect(failed.body).toEqual({ statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });
      expect(setCookies(failed)).toEqual([]);
    }
    const data = await request(app.getHttpServer()).get('/data').set('Cookie', `session_id=${cookie}`).expect(200);
    expect(data.body).toEqual({ visited: true });
  });

  it('logs out with 201, after which the old cookie gets 403', async () => {
    const response = await login(app, 'maria', 'guess');
    expect(response.status).toBe(201);
    const cookie = cookieValue(response)!;
    await request(app.getHttpServer())
      .get('/auth/profile')
      .set('Cookie', `session_id=${cookie}`)
      .expect(200, { userId: 2, username: 'maria' });
    await request(app.getHttpServer()).post('/auth/logout').set('Cookie', `session_id=${cookie}`).expect(201);
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', `session_id=${cookie}`).expect(403);
  });
});

describe('express-session compatibility: the middleware ecosystem', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await boot(new MemoryStore(), { csrf: true });
  });
  afterAll(() => app.close());

  it('connect-flash: a message set on one request is read once on the next', async () => {
    const first = await request(app.getHttpServer()).get('/csrf').expect(200);
    const cookie = cookieValue(first)!;
    const token = first.body.token as string;
    await request(app.getHttpServer()).post('/flash').set('Cookie', `session_id=${cookie}`).set('x-csrf-token', token).expect(201);
    await request(app.getHttpServer())
      .get('/flash')
      .set('Cookie', `session_id=${cookie}`)
      .expect(200, { info: ['Saved.'] });
    await request(app.getHttpServer()).get('/flash').set('Cookie', `session_id=${cookie}`).expect(200, { info: [] });
  });

  it('csrf-sync: issues a token, refuses a POST without it (403), accepts it with it', async () => {
    const page = await request(app.getHttpServer()).get('/csrf').expect(200);
    const cookie = cookieValue(page)!;
    const token = page.body.token as string;
    expect(token).toMatch(/^[0-9a-f]{256}$/);
    await request(app.getHttpServer()).post('/protected').set('Cookie', `session_id=${cookie}`).expect(403);
    await request(app.getHttpServer()).post('/protected').set('Cookie', `session_id=${cookie}`).set('x-csrf-token', 'forged').expect(403);
    await request(app.getHttpServer())
      .post('/protected')
      .set('Cookie', `session_id=${cookie}`)
      .set('x-csrf-token', token)
      .expect(201, { ok: true });
    // The token lives in the session: the same token is handed out again.
    expect(await withToken(app, cookie)).toBe(token);
  });

  it('a nested change with no assignment (Array.push) is saved', async () => {
    const page = await request(app.getHttpServer()).get('/csrf').expect(200);
    const cookie = cookieValue(page)!;
    const post = (path: string) =>
      request(app.getHttpServer())
        .post(path)
        .set('Cookie', `session_id=${cookie}`)
        .set('x-csrf-token', page.body.token as string);
    await post('/list').expect(201);
    await post('/push/1').expect(201);
    await post('/push/2').expect(201);
    const data = await request(app.getHttpServer()).get('/data').set('Cookie', `session_id=${cookie}`).expect(200);
    expect(data.body.list).toEqual([1, 2]);
  });
});

describe('express-session compatibility on the cookie store', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await boot(new CookieStore({ secret: 'compat-cookie-store-secret-of-32-bytes!!' }));
  });
  afterAll(() => app.close());

  it('logs in, reads the profile and logs out; the logged-out cookie is refused', async () => {
    const response = await login(app, 'john', 'changeme').expect(201);
    const cookie = cookieValue(response)!;
    await request(app.getHttpServer())
      .get('/auth/profile')
      .set('Cookie', `session_id=${cookie}`)
      .expect(200, { userId: 1, username: 'john' });
    const logout = await request(app.getHttpServer()).post('/auth/logout').set('Cookie', `session_id=${cookie}`).expect(201);
    expect(cookieValue(logout)).toBe('');
    await request(app.getHttpServer()).get('/auth/profile').expect(403);
  });
});

describe('expressSession at start-up', () => {
  it('says what to do when SessionModule is missing', async () => {
    @Module({})
    class BareModule {}
    const testing = await Test.createTestingModule({ imports: [BareModule] }).compile();
    const app = testing.createNestApplication({ logger: false });
    try {
      expect(() => expressSession(app)).toThrow(
        'expressSession(app) needs SessionModule.forRoot() imported in the application module passed to it',
      );
    } finally {
      await app.close();
    }
  });
});

describeCompatOnRedis(
  'express-session compatibility on Redis',
  '50 parallel requests setting different req.session properties of one session keep all 50',
  { boot, visited },
);
