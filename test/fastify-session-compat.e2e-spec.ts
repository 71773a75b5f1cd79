import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  Module,
  Param,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import fastifyPassport from '@fastify/passport';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import { type FastifyCompatSession, fastifySession, MemoryStore, SessionModule, type SessionStore } from '@novanest/session';
import { cookieValue } from './support/cookies.js';
import { describeCompatOnRedis } from './support/compat-on-redis.js';

// ---- A login with @fastify/passport (the Fastify counterpart of the Nest docs recipe) ----

const USERS = [
  { userId: 1, username: 'john', password: 'changeme' },
  { userId: 2, username: 'maria', password: 'guess' },
];

fastifyPassport.use(
  'local',
  new LocalStrategy((username, password, done) => {
    const user = USERS.find((candidate) => candidate.username === username && candidate.password === password);
    if (user === undefined) return done(null, false);
    const { password: _password, ...rest } = user;
    return done(null, rest);
  }),
);
fastifyPassport.registerUserSerializer(async (user: unknown) => user);
fastifyPassport.registerUserDeserializer(async (user: unknown) => user);

type PassportRequest = FastifyRequest & { session: FastifyCompatSession; user?: unknown };

@Injectable()
class LocalAuthGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const authenticate = fastifyPassport.authenticate('local', { failWithError: true, authInfo: false });
    try {
      await authenticate.call(undefined as never, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
    } catch (error) {
      if ((error as { status?: number }).status === 401) throw new UnauthorizedException();
      throw error;
    }
    return true;
  }
}

@Injectable()
class AuthenticatedGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<FastifyRequest>().isAuthenticated();
  }
}

@Controller('auth')
class AuthController {
  @UseGuards(LocalAuthGuard)
  @Post('login')
  login(@Req() req: PassportRequest) {
    return req.user;
  }

  @UseGuards(AuthenticatedGuard)
  @Get('profile')
  profile(@Req() req: PassportRequest) {
    return req.user;
  }

  @Post('logout')
  async logout(@Req() req: PassportRequest) {
    await req.logOut();
    return { ok: true };
  }
}

@Controller()
class DataController {
  @Post('visit')
  visit(@Req() req: PassportRequest) {
    req.session.set('visited', true);
    return { id: req.session.sessionId };
  }

  @Post('mark/:n')
  mark(@Req() req: PassportRequest, @Param('n') n: string) {
    req.session.set(`k${n}`, Number(n));
    return { ok: true };
  }

  @Post('list/:n')
  push(@Req() req: PassportRequest, @Param('n') n: string) {
    const list = req.session.get<number[]>('list');
    // A change in place to a value handed out by get(): no set() call.
    if (list === undefined) req.session.set('list', [Number(n)]);
    else list.push(Number(n));
    return { ok: true };
  }

  @Post('flash')
  flash(@Req() req: FastifyRequest) {
    req.flash('info', 'Saved.');
    return { ok: true };
  }

  @Get('flash')
  readFlash(@Req() req: PassportRequest) {
    return { info: req.session.get('flash') ?? {} };
  }

  @Get('data')
  data(@Req() req: PassportRequest) {
    return req.session.data();
  }
}

function appModule(store: SessionStore) {
  @Module({
    imports: [SessionModule.forRoot(store)],
    controllers: [AuthController, DataController],
    providers: [LocalAuthGuard, AuthenticatedGuard],
  })
  class AppModule {}
  return AppModule;
}

async function boot(store: SessionStore): Promise<INestApplication> {
  const testing = await Test.createTestingModule({ imports: [appModule(store)] }).compile();
  const app = testing.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await app.register(fastifySession(app)); // the one line: request.session for @fastify/passport
  await app.register(fastifyPassport.initialize());
  await app.register(fastifyPassport.secureSession());
  await app.listen(0, '127.0.0.1');
  return app;
}

async function visited(app: INestApplication): Promise<string> {
  const response = await request(app.getHttpServer()).post('/visit').expect(201);
  expect(cookieValue(response)).toBe(response.body.id);
  return response.body.id as string;
}

function login(app: INestApplication, username: string, password: string, cookie?: string) {
  return request(app.getHttpServer())
    .post('/auth/login')
    .set('Cookie', cookie === undefined ? [] : [`session_id=${cookie}`])
    .send({ username, password });
}

describe('fastifySession: @fastify/passport on the library session', () => {
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
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', `session_id=${before}`).expect(403);
    await request(app.getHttpServer())
      .get('/auth/profile')
      .set('Cookie', `session_id=${after}`)
      .expect(200, { userId: 1, username: 'john' });
  });

  it('refuses a wrong password with 401 and the profile without a cookie with 403', async () => {
    await login(app, 'maria', 'wrong').expect(401);
    await request(app.getHttpServer()).get('/auth/profile').expect(403);
  });

  it('logs out with 201, after which the old cookie gets 403', async () => {
    const response = await login(app, 'maria', 'guess').expect(201);
    const cookie = cookieValue(response)!;
    await request(app.getHttpServer())
      .get('/auth/profile')
      .set('Cookie', `session_id=${cookie}`)
      .expect(200, { userId: 2, username: 'maria' });
    await request(app.getHttpServer()).post('/auth/logout').set('Cookie', `session_id=${cookie}`).expect(201);
    await request(app.getHttpServer()).get('/auth/profile').set('Cookie', `session_id=${cookie}`).expect(403);
  });

  it('@fastify/flash (registered by @fastify/passport) keeps a message for the next request', async () => {
    const cookie = await visited(app);
    await request(app.getHttpServer()).post('/flash').set('Cookie', `session_id=${cookie}`).expect(201);
    await request(app.getHttpServer())
      .get('/flash')
      .set('Cookie', `session_id=${cookie}`)
      .expect(200, { info: { info: ['Saved.'] } });
  });

  it('a change in place to a value from get() is saved', async () => {
    const cookie = await visited(app);
    for (const n of [1, 2, 3]) await request(app.getHttpServer()).post(`/list/${n}`).set('Cookie', `session_id=${cookie}`).expect(201);
    const data = await request(app.getHttpServer()).get('/data').set('Cookie', `session_id=${cookie}`).expect(200);
    expect(data.body).toEqual({ visited: true, list: [1, 2, 3] });
  });
});

describeCompatOnRedis('fastifySession on Redis', '50 parallel requests setting different keys of one session keep all 50', {
  boot,
  visited,
});
