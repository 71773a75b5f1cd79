/**
 * The session of a request is reachable from anything that holds the request: the app's own
 * middleware and guards (which run before the module's interceptor), as well as handlers. One
 * handle per request, whoever touches it first, and one commit before the response leaves.
 */
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestMiddleware,
  type NestModule,
  Req,
  UseGuards,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { MissingSessionError, Session, SessionModule, SessionService } from '@novanest/session';
import { cookieValue, setCookieFor } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, startApp } from './support/platforms.js';

const HANDLES = Symbol('handles seen');
type Seen = { [HANDLES]?: Session[] };

/** Where a test records handles: Fastify's middleware sees the raw request, its routes the wrapper. */
function seen(req: object): Seen {
  return ((req as { raw?: Seen }).raw ?? req) as Seen;
}

/** An application's own guard: counts visits in the session before the handler runs. */
@Injectable()
class VisitGuard implements CanActivate {
  constructor(private readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Seen>();
    const session = this.sessions.getSession(req);
    (seen(req)[HANDLES] ??= []).push(session);
    await session.set('visits', ((await session.get<number>('visits')) ?? 0) + 1);
    return true;
  }
}

/** An application's own middleware: marks the session of every request under /marked. */
@Injectable()
class MarkMiddleware implements NestMiddleware {
  constructor(private readonly sessions: SessionService) {}

  use(req: object, _res: unknown, next: (error?: unknown) => void): void {
    const session = this.sessions.getSession(req);
    seen(req)[HANDLES] = [session];
    session.set('marked', true).then(() => next(), next);
  }
}

@Controller()
class EverywhereController {
  @Get('guarded')
  @UseGuards(VisitGuard)
  async guarded(@Session() session: Session, @Req() req: Seen) {
    return { same: seen(req)[HANDLES]?.[0] === session, visits: await session.get<number>('visits') };
  }

  /** Never touches the session itself: only the middleware did. */
  @Get('marked/quiet')
  quiet(@Req() req: Seen) {
    return { seenByMiddleware: seen(req)[HANDLES]?.length ?? 0 };
  }

  @Get('marked/read')
  async read(@Session() session: Session, @Req() req: Seen) {
    return { same: seen(req)[HANDLES]?.[0] === session, marked: (await session.get('marked')) ?? null };
  }

  @Get('all')
  async all(@Session() session: Session, @Req() req: Seen) {
    return { same: seen(req)[HANDLES]?.[0] === session, data: await session.all() };
  }

  @Get('untouched')
  untouched() {
    return 'ok';
  }
}

function appModule(store: InstrumentedStore, secure: boolean | 'auto' = false) {
  @Module({ imports: [SessionModule.forRoot(store, { cookie: { secure } })], controllers: [EverywhereController], providers: [VisitGuard] })
  class EverywhereModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(MarkMiddleware).forRoutes('marked/*path');
    }
  }
  return EverywhereModule;
}

describe.each(PLATFORMS)('the session from middleware and guards (%s)', (platform) => {
  it("an app's own guard reads and writes the session; the handler sees the same handle; one commit", async () => {
    const store = new InstrumentedStore();
    const app = await startApp(platform, appModule(store));
    try {
      const first = await request(app.getHttpServer()).get('/guarded').expect(200);
      expect(first.body).toEqual({ same: true, visits: 1 });
      expect(store.count('write')).toBe(1);
      const cookie = `session_id=${cookieValue(first)}`;
      store.reset();
      const second = await request(app.getHttpServer()).get('/guarded').set('Cookie', cookie).expect(200);
      expect(second.body).toEqual({ same: true, visits: 2 });
      expect(store.count('write')).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('a route where only middleware touched the session still gets its cookie, and the change is kept', async () => {
    const store = new InstrumentedStore();
    const app = await startApp(platform, appModule(store));
    try {
      const quiet = await request(app.getHttpServer()).get('/marked/quiet').expect(200);
      expect(quiet.body).toEqual({ seenByMiddleware: 1 });
      const id = cookieValue(quiet);
      expect(id).toBeDefined();
      expect(store.count('write')).toBe(1);
      const read = await request(app.getHttpServer()).get('/marked/read').set('Cookie', `session_id=${id}`).expect(200);
      expect(read.body).toEqual({ same: true, marked: true });
    } finally {
      await app.close();
    }
  });

  it('a path no route serves sends no cookie and touches no store', async () => {
    const store = new InstrumentedStore();
    const app = await startApp(platform, appModule(store));
    try {
      const missing = await request(app.getHttpServer()).get('/no/such/path').expect(404);
      expect(setCookieFor(missing)).toBeUndefined();
      // A route still gives a new visitor its cookie, as before.
      const untouched = await request(app.getHttpServer()).get('/untouched').expect(200);
      expect(setCookieFor(untouched)).toBeDefined();
      expect(store.count()).toBe(0);
    } finally {
      await app.close();
    }
  });

  it("the cookie first used in middleware still follows the platform's trust-proxy view of https", async () => {
    const store = new InstrumentedStore();
    const app = await startApp(platform, appModule(store, 'auto'), { trustProxy: true });
    try {
      const https = await request(app.getHttpServer()).get('/marked/quiet').set('X-Forwarded-Proto', 'https').expect(200);
      expect(setCookieFor(https)).toMatch(/; Secure/i);
      const plain = await request(app.getHttpServer()).get('/marked/quiet').expect(200);
      expect(setCookieFor(plain)).toBeDefined();
      expect(setCookieFor(plain)).not.toMatch(/; Secure/i);
    } finally {
      await app.close();
    }
  });

  it('an object that is no HTTP request gets MissingSessionError with what to do', async () => {
    const app = await startApp(platform, appModule(new InstrumentedStore()));
    try {
      const sessions = app.get(SessionService);
      expect(() => sessions.getSession({ job: 42 })).toThrow(MissingSessionError);
      expect(() => sessions.getSession({ job: 42 })).toThrow(/pass the request itself .* SessionService\.revoke\(id\)/);
    } finally {
      await app.close();
    }
  });
});

describe('Express middleware registered with app.use in main.ts, before the module', () => {
  it('finds the session through the request, shares it with the handler, and commits it', async () => {
    const store = new InstrumentedStore();
    const testing = await Test.createTestingModule({ imports: [appModule(store)] }).compile();
    const app = testing.createNestApplication({ logger: false });
    const sessions = app.get(SessionService);
    app.use((req: Seen, _res: unknown, next: (error?: unknown) => void) => {
      const session = sessions.getSession(req);
      req[HANDLES] = [session];
      session.set('early', 'yes').then(() => next(), next);
    });
    await app.listen(0, '127.0.0.1');
    try {
      const first = await request(app.getHttpServer()).get('/all').expect(200);
      expect(first.body).toEqual({ same: true, data: { early: 'yes' } });
      expect(store.count('write')).toBe(1);
      const id = cookieValue(first);
      const again = await request(app.getHttpServer()).get('/all').set('Cookie', `session_id=${id}`).expect(200);
      expect(again.body).toEqual({ same: true, data: { early: 'yes' } });
    } finally {
      await app.close();
    }
  });
});
