/**
 * The one minimal Nest application every bench case serves, with its session layer swapped.
 *
 * Routes (all GET, JSON bodies of the same size class in every case):
 * - `setup`: creates a session holding `{ username, counter }`; the load generator keeps its cookie.
 * - `new`: a visitor without a cookie; creates a session and sets a value.
 * - `read`: an existing session; reads a value.
 * - `write`: an existing session; changes a value (reads the counter and writes it back + 1).
 * - `untouched`: never uses the session (the load generator still sends the cookie).
 *
 * This library is imported from its source (compiled with the bench), as the demo would import
 * it through `@novanest/session`.
 */
import 'reflect-metadata';
import {
  type CallHandler,
  Controller,
  createParamDecorator,
  type DynamicModule,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  Module,
  type NestInterceptor,
  Req,
  type Type,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { CookieStore, MemoryStore, Session, SessionModule, type SessionStore } from '@novanest/session';
import { RedisStore, type RedisStoreOptions } from '@novanest/session/redis';
import { PostgresStore } from '@novanest/session/postgres';
import type { BenchCase } from './cases.js';

/** Where the servers are; the orchestrator passes them in the environment. */
export interface BenchServices {
  redisUrl?: string;
  databaseUrl?: string;
}

/** Names the bench writes under, so it never touches anything else on a shared server. */
export const BENCH_REDIS_PREFIX = 'novanest-bench:';
export const BENCH_TABLES = { novanest: 'novanest_bench_sessions', pgSimple: 'novanest_bench_pgsimple' } as const;

const SECRET = 'novanest-bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/**
 * Counts requests whose session did not hold what the setup route put there (a lost or expired
 * session would make a `read` look cheap). The orchestrator reports any.
 */
export const counters: { misses: number; nearCache?: () => { hits: number; misses: number } | undefined } = { misses: 0 };

interface BenchSessionData {
  username?: string;
  counter?: number;
}

// ---------------------------------------------------------------------------------------------
// Controllers: the same five routes, written the way each layer's users write them.

@Controller()
class BareController {
  @Get('setup') setup() {
    return { ok: true };
  }
  @Get('new') create() {
    return { ok: true };
  }
  @Get('read') read() {
    return { username: 'bench-user' };
  }
  @Get('write') write() {
    return { counter: 1 };
  }
  @Get('untouched') untouched() {
    return { ok: true };
  }
}

/**
 * The Nest floor: what this library's shape costs in Nest alone. A global interceptor that only
 * passes the call on, a custom parameter decorator and async handlers, as in
 * `NovanestController`, with no session work at all.
 */
@Injectable()
class PassThroughInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

const RequestParam = createParamDecorator((_data: unknown, context: ExecutionContext) => context.switchToHttp().getRequest<object>());

@Controller()
class FloorController {
  @Get('setup') async setup(@RequestParam() request: object) {
    return { ok: request !== undefined };
  }
  @Get('new') async create(@RequestParam() request: object) {
    return { ok: request !== undefined };
  }
  @Get('read') async read(@RequestParam() request: object) {
    return { username: request === undefined ? '' : 'bench-user' };
  }
  @Get('write') async write(@RequestParam() request: object) {
    return { counter: request === undefined ? 0 : 1 };
  }
  @Get('untouched') untouched() {
    return { ok: true };
  }
}

@Module({ controllers: [FloorController], providers: [{ provide: APP_INTERCEPTOR, useClass: PassThroughInterceptor }] })
class FloorModule {}

@Controller()
class NovanestController {
  @Get('setup') async setup(@Session() session: Session) {
    await session.set('username', 'bench-user');
    await session.set('counter', 0);
    return { ok: true };
  }
  @Get('new') async create(@Session() session: Session) {
    await session.set('username', 'visitor');
    return { ok: true };
  }
  @Get('read') async read(@Session() session: Session) {
    const username = await session.get<string>('username');
    if (username === undefined) counters.misses++;
    return { username };
  }
  @Get('write') async write(@Session() session: Session) {
    const counter = await session.get<number>('counter');
    if (counter === undefined) counters.misses++;
    const next = (counter ?? 0) + 1;
    await session.set('counter', next);
    return { counter: next };
  }
  @Get('untouched') untouched() {
    return { ok: true };
  }
}

/** express-session (directly or through nestjs-session): `req.session` is the session. */
@Controller()
class ExpressSessionController {
  @Get('setup') setup(@Req() req: { session: BenchSessionData }) {
    req.session.username = 'bench-user';
    req.session.counter = 0;
    return { ok: true };
  }
  @Get('new') create(@Req() req: { session: BenchSessionData }) {
    req.session.username = 'visitor';
    return { ok: true };
  }
  @Get('read') read(@Req() req: { session: BenchSessionData }) {
    const username = req.session.username;
    if (username === undefined) counters.misses++;
    return { username };
  }
  @Get('write') write(@Req() req: { session: BenchSessionData }) {
    if (req.session.counter === undefined) counters.misses++;
    const next = (req.session.counter ?? 0) + 1;
    req.session.counter = next;
    return { counter: next };
  }
  @Get('untouched') untouched() {
    return { ok: true };
  }
}

interface FastifySessionLike {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

@Controller()
class FastifySessionController {
  @Get('setup') setup(@Req() req: { session: FastifySessionLike }) {
    req.session.set('username', 'bench-user');
    req.session.set('counter', 0);
    return { ok: true };
  }
  @Get('new') create(@Req() req: { session: FastifySessionLike }) {
    req.session.set('username', 'visitor');
    return { ok: true };
  }
  @Get('read') read(@Req() req: { session: FastifySessionLike }) {
    const username = req.session.get('username');
    if (username === undefined) counters.misses++;
    return { username };
  }
  @Get('write') write(@Req() req: { session: FastifySessionLike }) {
    const counter = req.session.get('counter') as number | undefined;
    if (counter === undefined) counters.misses++;
    const next = (counter ?? 0) + 1;
    req.session.set('counter', next);
    return { counter: next };
  }
  @Get('untouched') untouched() {
    return { ok: true };
  }
}

// ---------------------------------------------------------------------------------------------
// Stores and modules.

/** What the app opened and must close at the end (the library never closes clients it is given). */
type Closer = () => Promise<unknown>;

/**
 * Whether `RedisStore` takes a `localCache` (near-cache) option. Looked up in the class source,
 * since an option leaves no other trace at run time: the bench runs with whatever the working
 * tree's store offers.
 */
export function redisStoreSupportsNearCache(): boolean {
  return /\blocalCache\b/.test(RedisStore.toString());
}

async function redisStore(services: BenchServices, closers: Closer[], nearCache: boolean): Promise<SessionStore> {
  const { Redis } = await import('ioredis');
  const client = new Redis(requireUrl(services.redisUrl, 'Redis'), { maxRetriesPerRequest: 1 });
  closers.push(() => client.quit());
  const prefix = `${BENCH_REDIS_PREFIX}${nearCache ? 'nc' : 'nn'}:`;
  if (!nearCache) return new RedisStore({ client, prefix });
  // Defaults: the store opens (and closes) its own subscriber connection for the invalidations.
  // The cast keeps the bench compiling against a store without the option.
  const options = { client, prefix, localCache: true } as RedisStoreOptions;
  const store = new RedisStore(options);
  // Reported per slice, so that a slice whose reads mostly missed the cache shows as such.
  counters.nearCache = () => (store as { localCacheStatus?: { hits: number; misses: number } }).localCacheStatus;
  return store;
}

async function novanestStore(bench: BenchCase, services: BenchServices, closers: Closer[]): Promise<SessionStore> {
  switch (bench.layer) {
    case 'novanest-memory':
      // The default cap (100,000) would start evicting during a long run's `new` slices, and
      // with it the prepared sessions; express-session's memory store has no cap at all.
      return new MemoryStore({ maxEntries: 5_000_000 });
    case 'novanest-redis':
      return redisStore(services, closers, false);
    case 'novanest-redis-nearcache':
      return redisStore(services, closers, true);
    case 'novanest-postgres': {
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({ connectionString: requireUrl(services.databaseUrl, 'PostgreSQL') });
      closers.push(() => pool.end());
      return new PostgresStore({ pool, table: BENCH_TABLES.novanest, createTable: true, pruneInterval: false });
    }
    case 'novanest-cookie':
      return new CookieStore({ secret: SECRET });
    default:
      throw new Error(`not a novanest case: ${bench.id}`);
  }
}

function requireUrl(url: string | undefined, what: string): string {
  if (url === undefined || url === '') throw new Error(`${what} URL missing for this bench case`);
  return url;
}

const EXPRESS_SESSION_OPTIONS = {
  secret: SECRET,
  resave: false,
  saveUninitialized: false,
  cookie: { secure: false },
};

async function expressSessionStore(bench: BenchCase, services: BenchServices, closers: Closer[]) {
  const session = (await import('express-session')).default;
  if (bench.layer === 'express-session-redis') {
    const { createClient } = await import('redis');
    const { RedisStore: ConnectRedisStore } = await import('connect-redis');
    const client = createClient({ url: requireUrl(services.redisUrl, 'Redis') });
    client.on('error', () => undefined);
    await client.connect();
    closers.push(() => client.quit());
    return new ConnectRedisStore({ client, prefix: `${BENCH_REDIS_PREFIX}cr:` });
  }
  if (bench.layer === 'express-session-pg') {
    const { default: pg } = await import('pg');
    const { default: connectPgSimple } = await import('connect-pg-simple');
    const pool = new pg.Pool({ connectionString: requireUrl(services.databaseUrl, 'PostgreSQL') });
    closers.push(() => pool.end());
    const PgStore = connectPgSimple(session);
    const store = new PgStore({
      pool,
      tableName: BENCH_TABLES.pgSimple,
      createTableIfMissing: true,
      pruneSessionInterval: false,
    });
    closers.push(async () => store.close());
    return store;
  }
  return undefined; // express-session's own MemoryStore
}

@Module({ controllers: [BareController] })
class BareModule {}

function appModule(imports: DynamicModule[], controller: Type): Type {
  @Module({ imports, controllers: [controller] })
  class BenchAppModule {}
  return BenchAppModule;
}

/** A running bench app and how to close everything it opened. */
export interface BenchApp {
  app: INestApplication;
  close(): Promise<void>;
}

/** Builds (but does not start listening) the app of one case. */
export async function createBenchApp(bench: BenchCase, services: BenchServices): Promise<BenchApp> {
  const closers: Closer[] = [];
  let module: Type;
  switch (bench.kind) {
    case 'bare':
      module = BareModule;
      break;
    case 'reference':
      module = FloorModule;
      break;
    case 'ours': {
      const store = await novanestStore(bench, services, closers);
      module = appModule([SessionModule.forRoot(store, { cookie: { secure: 'auto' } })], NovanestController);
      break;
    }
    default:
      if (bench.layer === 'nestjs-session') {
        const { SessionModule: NestSessionModule } = await import('nestjs-session');
        module = appModule([NestSessionModule.forRoot({ session: EXPRESS_SESSION_OPTIONS })], ExpressSessionController);
      } else if (bench.layer === 'fastify-session') {
        module = appModule([], FastifySessionController);
      } else {
        module = appModule([], ExpressSessionController);
      }
  }

  const logger = ['error'] as const;
  let app: INestApplication;
  if (bench.platform === 'fastify') {
    const fastify = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), { logger: [...logger] });
    if (bench.layer === 'fastify-session') {
      const { default: fastifyCookie } = await import('@fastify/cookie');
      const { default: fastifySession } = await import('@fastify/session');
      await fastify.register(fastifyCookie);
      await fastify.register(fastifySession, { secret: SECRET, saveUninitialized: false, cookie: { secure: false } });
    }
    app = fastify;
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, { logger: [...logger] });
    if (bench.layer.startsWith('express-session-')) {
      const session = (await import('express-session')).default;
      const store = await expressSessionStore(bench, services, closers);
      express.use(session({ ...EXPRESS_SESSION_OPTIONS, ...(store === undefined ? {} : { store }) }));
    }
    app = express;
  }
  return {
    app,
    close: async () => {
      await app.close();
      for (const close of closers.reverse()) await close().catch(() => undefined);
    },
  };
}
