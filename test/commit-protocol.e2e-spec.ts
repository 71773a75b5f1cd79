import { type ServerResponse, ServerResponse as NodeServerResponse } from 'node:http';
import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  Header,
  HttpCode,
  type INestApplication,
  Post,
  Res,
  Sse,
  UseFilters,
} from '@nestjs/common';
import { type Observable, interval, map, take } from 'rxjs';
import request from 'supertest';
import { Session } from '@novanest/session';
// White-box: the built module, the same instance '@novanest/session' loads (the package links here).
import { isGated } from '../libs/session/dist/request/response-gate.js';
import { cookieValue, setCookieFor, setCookies } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, type Platform, startApp } from './support/platforms.js';
import { sessionTestModule } from './support/session-test.controller.js';

class FormError extends Error {}

/** A user's filter that turns a domain error into a redirect back to the form. */
@Catch(FormError)
class FormErrorFilter implements ExceptionFilter {
  catch(_error: FormError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<{ raw?: unknown; redirect(a: unknown, b?: unknown): void }>();
    if (res.raw !== undefined) res.redirect('/flash', 303);
    else res.redirect(303, '/flash');
  }
}

/** Lets a test hold a request in the middle of its handler. */
class Latch {
  reached = false;
  private release!: () => void;
  readonly released = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  open(): void {
    this.release();
  }
}
let latch = new Latch();

/** Routes only this suite needs; the rest are the shared `SessionTestController`'s. */
@Controller()
class ProtocolController {
  @Post('form')
  @UseFilters(FormErrorFilter)
  async form(@Session() session: Session) {
    await session.set('draft', 'kept for the form');
    await session.flash('notice', 'Please fix the form.');
    throw new FormError('invalid');
  }

  @Post('health')
  @HttpCode(503)
  async health(@Session() session: Session) {
    await session.set('lastHealth', 'down');
    return { status: 'down' };
  }

  @Post('slow-regenerate')
  @HttpCode(200)
  async slowRegenerate(@Session() session: Session) {
    await session.load();
    latch.reached = true;
    await latch.released;
    await session.regenerate();
    await session.set('rotatedAt', 1);
    return { ok: true };
  }

  @Post('set-and-destroy')
  @HttpCode(200)
  async setAndDestroy(@Session() session: Session) {
    await Promise.all([session.set('lastSeen', 'now'), session.destroy()]);
    return { ok: true };
  }

  @Post('res-redirect-with-cors')
  @Header('Access-Control-Allow-Origin', 'https://app.example')
  async resRedirect(@Session() session: Session, @Res() res: { raw?: unknown; redirect(a: unknown, b?: unknown): void }) {
    await session.set('user', 'bob');
    if (res.raw !== undefined) res.redirect('/read', 302);
    else res.redirect(302, '/read');
  }

  @Get('writers')
  async writers(@Session() session: Session, @Res({ passthrough: true }) res: { raw?: ServerResponse }) {
    await session.set('seen', true);
    const raw = res.raw ?? (res as ServerResponse);
    return { gated: isGated(raw), ownWriters: ['writeHead', 'write', 'end', 'flushHeaders'].filter((name) => Object.hasOwn(raw, name)) };
  }

  @Get('gated')
  gated(@Res({ passthrough: true }) res: { raw?: ServerResponse }) {
    const raw = res.raw ?? (res as ServerResponse);
    return { gated: isGated(raw) };
  }

  @Sse('events')
  events(): Observable<{ data: string }> {
    return interval(5).pipe(
      take(3),
      map((i) => ({ data: `tick ${i}` })),
    );
  }
}

const store = new InstrumentedStore();

const ProtocolModule = sessionTestModule(store, {}, ProtocolController);

/** Node's own writers, taken before any app starts. */
const NODE_WRITERS = {
  writeHead: NodeServerResponse.prototype.writeHead,
  write: NodeServerResponse.prototype.write,
  end: NodeServerResponse.prototype.end,
  flushHeaders: NodeServerResponse.prototype.flushHeaders,
};

describe.each(PLATFORMS)('commit protocol on %s', (platform: Platform) => {
  let app: INestApplication;
  let server: ReturnType<INestApplication['getHttpServer']>;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    app = await startApp(platform, ProtocolModule);
    server = app.getHttpServer();
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await app.close();
  });
  beforeEach(() => {
    store.down = false;
    store.reset();
    latch = new Latch();
    unhandled.length = 0;
  });

  it("gates without touching Node's ServerResponse.prototype, and without own writers on Express responses", async () => {
    const response = await request(server).get('/writers').expect(200);
    expect(setCookieFor(response)).toMatch(/^session_id=/);
    // Own properties on an Express response slow every later access to it (bench/findings.md):
    // there the application's response prototype carries the gated writers instead.
    expect(response.body).toEqual({ gated: true, ownWriters: platform === 'express' ? [] : ['writeHead', 'write', 'end', 'flushHeaders'] });
    expect(NodeServerResponse.prototype.writeHead).toBe(NODE_WRITERS.writeHead);
    expect(NodeServerResponse.prototype.end).toBe(NODE_WRITERS.end);
    expect(NodeServerResponse.prototype.write).toBe(NODE_WRITERS.write);
    expect(NodeServerResponse.prototype.flushHeaders).toBe(NODE_WRITERS.flushHeaders);
  });

  it('holds a response only when the session may need a cookie or a commit', async () => {
    // A new visitor gets a cookie: gated from the start.
    const fresh = await request(server).get('/gated').expect(200);
    expect(fresh.body).toEqual({ gated: true });
    // A returning visitor whose route never uses the session: nothing to hold, no store call.
    const agent = request.agent(server);
    await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
    store.reset();
    const untouched = await agent.get('/gated').expect(200);
    expect(untouched.body).toEqual({ gated: false });
    expect(setCookies(untouched)).toEqual([]);
    expect(store.count()).toBe(0);
  });

  it('an @Sse() route streams its events and nothing crashes', async () => {
    const response = await request(server)
      .get('/events')
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => done(null, text));
      });
    expect(response.status).toBe(200);
    expect(response.body).toContain('data: tick 0');
    expect(response.body).toContain('data: tick 2');
    expect(setCookieFor(response)).toMatch(/^session_id=/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
  });

  it('the status a user filter sends decides: an error turned into a 303 commits its changes', async () => {
    const agent = request.agent(server);
    const response = await agent.post('/form').expect(303);
    expect(response.headers.location).toBe('/flash');
    expect(cookieValue(response)).toMatch(/^[\w-]{43}$/);
    const next = await agent.get('/flash').expect(200);
    expect(next.body).toEqual({ notice: 'Please fix the form.', data: { draft: 'kept for the form' } });
  });

  it('a handler that answers 503 through @HttpCode commits nothing and sends no cookie', async () => {
    const agent = request.agent(server);
    await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
    store.reset();
    const response = await agent.post('/health').expect(503);
    expect(response.body).toEqual({ status: 'down' });
    expect(setCookies(response)).toEqual([]);
    expect(store.count('write')).toBe(0);
    expect((await agent.get('/read')).body.data).toEqual({ user: 'ada' });
  });

  it('regenerate after a concurrent logout does not bring the session back', async () => {
    const created = await request(server).post('/set').send({ key: 'user', value: 'ada' }).expect(200);
    const id = cookieValue(created) as string;
    const sizeBefore = store.size;
    const slow = request(server)
      .post('/slow-regenerate')
      .set('Cookie', `session_id=${id}`)
      .then((r) => r);
    while (!latch.reached) await new Promise((resolve) => setTimeout(resolve, 2));
    await request(server).post('/destroy').set('Cookie', `session_id=${id}`).expect(200);
    latch.open();
    const response = await slow;
    expect(response.status).toBe(200);
    // The logout won: the slow request's cookie is expired, not a live new session.
    expect(setCookieFor(response)).toMatch(/^session_id=; Max-Age=0;/);
    expect(store.size).toBe(sizeBefore - 1);
    expect((await request(server).get('/read').set('Cookie', `session_id=${id}`)).body.data).toEqual({});
  });

  it('a change racing destroy() in the same request is not carried into a new session', async () => {
    const agent = request.agent(server);
    await agent.post('/set').send({ key: 'user', value: 'ada' }).expect(200);
    const sizeBefore = store.size;
    const response = await agent.post('/set-and-destroy').expect(200);
    expect(setCookies(response)).toEqual(['session_id=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax']);
    expect(store.size).toBe(sizeBefore - 1);
  });

  it('a 503 in place of a held response keeps headers such as CORS and drops the redirect', async () => {
    store.down = true;
    const response = await request(server).post('/res-redirect-with-cors').expect(503);
    expect(response.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(response.headers.location).toBeUndefined();
    expect(response.body.message).toBe('Session store unavailable; please retry shortly.');
    expect(setCookies(response)).toEqual([]);
  });
});
