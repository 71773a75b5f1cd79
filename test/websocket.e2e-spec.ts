/**
 * WebSocket gateways (socket.io and ws adapters, on Express and Fastify): the session of the
 * handshake cookie in handleConnection and in message handlers, explicit saves, the handshake
 * and the messages guarded by security functions, and what a socket may not do (regenerate).
 */
import type { IncomingMessage } from 'node:http';
import { Body, Controller, Get, HttpCode, type INestApplication, Module, Post, type Type, UseFilters, UseGuards } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { type OnGatewayConnection, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import {
  AuthData,
  CookieStore,
  MemoryStore,
  Security,
  SecurityDeniedFilter,
  type SecurityFn,
  Session,
  SessionAuthGuard,
  SessionModule,
  type SessionModuleOptions,
  type SessionStore,
  WsSessionError,
  WsSessionService,
  deny,
} from '@novanest/session';
import request from 'supertest';
import { setCookieFor } from './support/cookies.js';
import { PLATFORMS, type Platform, urlOf } from './support/platforms.js';
import { SOCKET_ADAPTERS, type SocketAdapter, type TestSocket, connectSocket } from './support/socket-clients.js';

const SECRET = 'a-websocket-suite-secret-of-at-least-32-bytes';

/** Logged in when the session holds a user. */
const loggedIn: SecurityFn = async ({ session }) => {
  const user = await session.get<string>('user');
  return user ? { user } : false;
};

/** How many times each message handler ran: a refused message must leave its count alone. */
const handlerRuns = new Map<string, number>();
function ran(name: string): void {
  handlerRuns.set(name, (handlerRuns.get(name) ?? 0) + 1);
}
function runsOf(name: string): number {
  return handlerRuns.get(name) ?? 0;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}
let slowNoteLoaded = deferred();
let slowNoteRelease = deferred();

/** What a message handler answers when a session call throws. */
function refusal(error: unknown) {
  if (error instanceof WsSessionError) return { error: error.name, message: error.message };
  throw error;
}

@WebSocketGateway()
@UseGuards(SessionAuthGuard)
@Security(loggedIn)
class ChatGateway implements OnGatewayConnection {
  constructor(private readonly wsSessions: WsSessionService) {}

  async handleConnection(client: object, request?: IncomingMessage) {
    const handshake = await this.wsSessions.authorize(client, loggedIn, request);
    if (handshake === undefined) return;
    const note = (await handshake.session.get<string>('note')) ?? null;
    send(client, 'welcome', { user: handshake.authData?.user, note });
  }

  @SubscribeMessage('whoami')
  async whoami(@AuthData('user') user: string, @Session() session: Session) {
    ran('whoami');
    return { event: 'whoami', data: { user, fromSession: (await session.get('user')) ?? null } };
  }

  @SubscribeMessage('note')
  async note(@Session() session: Session, @MessageBody() body: { text: string; save: boolean }) {
    ran('note');
    try {
      await session.set('note', body.text);
      if (body.save) await session.save();
    } catch (error) {
      return { event: 'note', data: refusal(error) };
    }
    return { event: 'note', data: { saved: body.save } };
  }

  /** Loads, waits for the test to release it, then saves: a logout in between must win. */
  @SubscribeMessage('slow-note')
  async slowNote(@Session() session: Session, @MessageBody() body: { text: string }) {
    await session.load();
    slowNoteLoaded.resolve();
    await slowNoteRelease.promise;
    try {
      await session.set('note', body.text);
      await session.save();
    } catch (error) {
      return { event: 'slow-note', data: refusal(error) };
    }
    return { event: 'slow-note', data: { saved: true } };
  }

  @SubscribeMessage('regenerate')
  async regenerate(@Session() session: Session) {
    try {
      await session.regenerate();
    } catch (error) {
      return { event: 'regenerate', data: refusal(error) };
    }
    return { event: 'regenerate', data: { regenerated: true } };
  }

  @SubscribeMessage('destroy')
  async destroy(@Session() session: Session) {
    try {
      await session.destroy();
    } catch (error) {
      return { event: 'destroy', data: refusal(error) };
    }
    return { event: 'destroy', data: { destroyed: true, isNew: session.isNew } };
  }

  /** Public: reachable after logout, and shows the session the socket sees then. */
  @SubscribeMessage('peek')
  @Security(false)
  async peek(@Session() session: Session) {
    return { event: 'peek', data: { user: (await session.get('user')) ?? null, note: (await session.get('note')) ?? null } };
  }

  /** Public: auth data of the socket's earlier guarded messages must not leak into it. */
  @SubscribeMessage('public-auth')
  @Security(false)
  publicAuth(@AuthData() auth: unknown) {
    return { event: 'public-auth', data: { auth: auth ?? null } };
  }

  /** A denial thrown by the handler itself, rendered by SecurityDeniedFilter as a socket message. */
  @SubscribeMessage('forbidden')
  @UseFilters(SecurityDeniedFilter)
  forbidden() {
    throw deny({ status: 403, body: { reason: 'not for you' } });
  }
}

/** socket.io only: a namespace without handleConnection; `@Session()` still finds the handshake. */
@WebSocketGateway({ namespace: 'plain' })
class PlainGateway {
  @SubscribeMessage('peek')
  async peek(@Session() session: Session) {
    return { event: 'peek', data: { user: (await session.get('user')) ?? null } };
  }
}

function send(client: object, event: string, data: unknown): void {
  const ws = client as { readyState?: unknown; send?: (text: string) => void; emit?: (event: string, data: unknown) => void };
  if (typeof ws.readyState === 'number' && ws.send) ws.send(JSON.stringify({ event, data }));
  else ws.emit?.(event, data);
}

@Controller()
class AuthController {
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session, @Body() body: { user: string }) {
    await session.regenerate();
    await session.set('user', body.user);
    return { ok: true };
  }

  @Get('me')
  async me(@Session() session: Session) {
    return { user: (await session.get('user')) ?? null, note: (await session.get('note')) ?? null };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: Session) {
    await session.destroy();
    return { ok: true };
  }
}

function appModule(adapter: SocketAdapter, store: SessionStore | undefined, options: SessionModuleOptions = {}): Type<unknown> {
  @Module({
    imports: [SessionModule.forRoot(store, options)],
    controllers: [AuthController],
    providers: adapter === 'socket.io' ? [ChatGateway, PlainGateway] : [ChatGateway],
  })
  class AppModule {}
  return AppModule;
}

async function startApp(platform: Platform, adapter: SocketAdapter, module: Type<unknown>): Promise<INestApplication> {
  const testing = await Test.createTestingModule({ imports: [module] }).compile();
  const app =
    platform === 'fastify'
      ? testing.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false })
      : testing.createNestApplication({ logger: false });
  app.useWebSocketAdapter(adapter === 'ws' ? new WsAdapter(app) : new IoAdapter(app));
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Logs `user` in over HTTP; answers the Cookie header the browser would send next. */
async function logIn(app: INestApplication, user: string): Promise<string> {
  const response = await request(app.getHttpServer()).post('/login').send({ user }).expect(200);
  const line = setCookieFor(response);
  expect(line).toBeDefined();
  return line!.split(';')[0];
}

async function me(app: INestApplication, cookie: string): Promise<{ user: string | null; note: string | null }> {
  return (await request(app.getHttpServer()).get('/me').set('Cookie', cookie).expect(200)).body;
}

const unauthorized = { status: 'error', statusCode: 401, message: 'Authentication required; please log in.' };

describe.each(PLATFORMS.flatMap((platform) => SOCKET_ADAPTERS.map((adapter) => [platform, adapter] as const)))(
  'WebSockets on %s with the %s adapter',
  (platform, adapter) => {
    let app: INestApplication;
    let baseUrl: string;
    const sockets: TestSocket[] = [];
    const connect = (cookie?: string, path?: string): TestSocket => {
      const socket = connectSocket(adapter, baseUrl, { cookie, path });
      sockets.push(socket);
      return socket;
    };

    beforeAll(async () => {
      app = await startApp(platform, adapter, appModule(adapter, new MemoryStore()));
      baseUrl = await urlOf(app);
    });
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });
    afterAll(async () => {
      await app.close();
    });

    it('handleConnection sees the user logged in over HTTP, and so do message handlers', async () => {
      const cookie = await logIn(app, 'ann');
      const socket = connect(cookie);
      expect(await socket.next('welcome')).toEqual({ user: 'ann', note: null });
      socket.send('whoami');
      expect(await socket.next('whoami')).toEqual({ user: 'ann', fromSession: 'ann' });
    });

    it('auth data reaches only the guarded message it was computed for', async () => {
      const cookie = await logIn(app, 'abe');
      const socket = connect(cookie);
      await socket.next('welcome');
      for (const body of [undefined, 'text', { text: 'object' }]) {
        socket.send('whoami', body);
        expect(await socket.next('whoami')).toEqual({ user: 'abe', fromSession: 'abe' });
        socket.send('public-auth', body);
        expect(await socket.next('public-auth')).toEqual({ auth: null });
      }
    });

    it('a message sent as soon as the socket opens is answered with the session', async () => {
      const cookie = await logIn(app, 'ava');
      const socket = connect(cookie);
      socket.send('whoami');
      expect(await socket.next('whoami')).toEqual({ user: 'ava', fromSession: 'ava' });
      expect(await socket.next('welcome')).toEqual({ user: 'ava', note: null });
    });

    it('a saved change is seen by the next HTTP request; an unsaved one is dropped', async () => {
      const cookie = await logIn(app, 'bob');
      const socket = connect(cookie);
      await socket.next('welcome');
      socket.send('note', { text: 'saved over the socket', save: true });
      expect(await socket.next('note')).toEqual({ saved: true });
      expect(await me(app, cookie)).toEqual({ user: 'bob', note: 'saved over the socket' });

      socket.send('note', { text: 'never saved', save: false });
      expect(await socket.next('note')).toEqual({ saved: false });
      expect(await me(app, cookie)).toEqual({ user: 'bob', note: 'saved over the socket' });
      // A new connection's handshake sees the saved note too.
      const again = connect(cookie);
      expect(await again.next('welcome')).toEqual({ user: 'bob', note: 'saved over the socket' });
    });

    it('a change made over HTTP is seen by the next message of an open socket', async () => {
      const cookie = await logIn(app, 'cid');
      const socket = connect(cookie);
      await socket.next('welcome');
      await request(app.getHttpServer()).post('/login').set('Cookie', cookie).send({ user: 'cid' }).expect(200);
      // Login regenerated the id: the socket's cookie names a session that is gone.
      socket.send('peek');
      expect(await socket.next('peek')).toEqual({ user: null, note: null });
    });

    it('after logout over HTTP the next message is refused, and the handler does not run', async () => {
      const cookie = await logIn(app, 'dee');
      const socket = connect(cookie);
      await socket.next('welcome');
      socket.send('whoami');
      expect(await socket.next('whoami')).toEqual({ user: 'dee', fromSession: 'dee' });
      await request(app.getHttpServer()).post('/logout').set('Cookie', cookie).expect(200);
      const before = runsOf('whoami');
      socket.send('whoami');
      expect(await socket.next('exception')).toEqual(unauthorized);
      expect(runsOf('whoami')).toBe(before);
      // The same socket's save is refused too, and writes nothing.
      const notes = runsOf('note');
      socket.send('note', { text: 'after logout', save: true });
      expect(await socket.next('exception')).toEqual(unauthorized);
      expect(runsOf('note')).toBe(notes);
      socket.send('peek');
      expect(await socket.next('peek')).toEqual({ user: null, note: null });
    });

    it('a save that races a logout over HTTP writes nothing and fails with WsSessionError', async () => {
      slowNoteLoaded = deferred();
      slowNoteRelease = deferred();
      const cookie = await logIn(app, 'kit');
      const socket = connect(cookie);
      await socket.next('welcome');
      socket.send('slow-note', { text: 'too late' });
      await slowNoteLoaded.promise;
      await request(app.getHttpServer()).post('/logout').set('Cookie', cookie).expect(200);
      slowNoteRelease.resolve();
      expect(await socket.next('slow-note')).toEqual({
        error: 'WsSessionError',
        message: expect.stringContaining('the session ended before this change was saved'),
      });
      expect(await me(app, cookie)).toEqual({ user: null, note: null });
    });

    it('a handshake without a session is told why and disconnected', async () => {
      const socket = connect();
      expect(await socket.next('exception')).toEqual(unauthorized);
      const closed = await socket.closed;
      if (adapter === 'ws') expect(closed).toEqual({ code: 4401, reason: unauthorized.message });
      else expect(closed.reason).toBe('io server disconnect');
    });

    it("a handshake from another site's page (cross-site WebSocket hijacking) gets no session, however valid its cookie", async () => {
      const cookie = await logIn(app, 'ivy');
      const evil = connectSocket(adapter, baseUrl, { cookie, origin: 'https://evil.example' });
      sockets.push(evil);
      const refused = {
        status: 'error',
        statusCode: 403,
        message: expect.stringMatching(
          /^Cross-origin request refused: the WebSocket handshake's Origin https:\/\/evil\.example is not a page of 127\.0\.0\.1:\d+ \(list it in the csrf trustedOrigins option/,
        ),
      };
      expect(await evil.next('exception')).toEqual(refused);
      const closed = await evil.closed;
      if (adapter === 'ws') expect(closed.code).toBe(4403);
      // The page's own origin passes, with the same cookie.
      const own = connectSocket(adapter, baseUrl, { cookie, origin: baseUrl });
      sockets.push(own);
      expect(await own.next('welcome')).toEqual({ user: 'ivy', note: null });
    });

    it('a handshake with a forged cookie is disconnected the same way', async () => {
      const socket = connect(`session_id=${'A'.repeat(43)}`);
      expect(await socket.next('exception')).toEqual(unauthorized);
      await socket.closed;
    });

    it('regenerate() on a socket fails with WsSessionError and changes nothing', async () => {
      const cookie = await logIn(app, 'eve');
      const socket = connect(cookie);
      await socket.next('welcome');
      socket.send('regenerate');
      expect(await socket.next('regenerate')).toEqual({
        error: 'WsSessionError',
        message: expect.stringContaining('regenerate() needs a new session cookie'),
      });
      expect(await me(app, cookie)).toEqual({ user: 'eve', note: null });
    });

    it('destroy() on a socket removes the session server-side: HTTP and the next message see none', async () => {
      const cookie = await logIn(app, 'fay');
      const socket = connect(cookie);
      await socket.next('welcome');
      socket.send('destroy');
      expect(await socket.next('destroy')).toEqual({ destroyed: true, isNew: true });
      expect(await me(app, cookie)).toEqual({ user: null, note: null });
      socket.send('whoami');
      expect(await socket.next('exception')).toEqual(unauthorized);
    });

    it('a denial thrown in a handler under SecurityDeniedFilter reaches the client as a message', async () => {
      const cookie = await logIn(app, 'gus');
      const socket = connect(cookie);
      await socket.next('welcome');
      socket.send('forbidden');
      expect(await socket.next('exception')).toEqual({
        status: 'error',
        statusCode: 403,
        message: 'Forbidden',
        body: { reason: 'not for you' },
      });
      // The HTTP side is unharmed.
      expect(await me(app, cookie)).toEqual({ user: 'gus', note: null });
    });

    if (adapter === 'socket.io') {
      it('@Session() reads the handshake session in a gateway that never calls WsSessionService', async () => {
        const cookie = await logIn(app, 'hal');
        const socket = connect(cookie, '/plain');
        socket.send('peek');
        expect(await socket.next('peek')).toEqual({ user: 'hal' });
      });
    }
  },
);

describe.each(SOCKET_ADAPTERS)('WebSockets with signed ids and with the cookie store (%s)', (adapter) => {
  const opened: Array<{ app: INestApplication; sockets: TestSocket[] }> = [];
  async function start(store: SessionStore | undefined, options: SessionModuleOptions) {
    const app = await startApp('express', adapter, appModule(adapter, store, options));
    const entry = { app, sockets: [] as TestSocket[] };
    opened.push(entry);
    const baseUrl = await urlOf(app);
    return {
      app,
      connect: (cookie?: string) => {
        const socket = connectSocket(adapter, baseUrl, { cookie });
        entry.sockets.push(socket);
        return socket;
      },
    };
  }
  afterEach(async () => {
    for (const { app, sockets } of opened.splice(0)) {
      for (const socket of sockets) socket.close();
      await app.close();
    }
  });

  it('signed ids: the handshake cookie is verified, and a bad signature is no session', async () => {
    const { app, connect } = await start(new MemoryStore(), { secret: SECRET });
    const cookie = await logIn(app, 'ida');
    expect(cookie).toMatch(/^session_id=[\w-]{43}\./);
    const socket = connect(cookie);
    expect(await socket.next('welcome')).toEqual({ user: 'ida', note: null });
    socket.send('note', { text: 'signed', save: true });
    expect(await socket.next('note')).toEqual({ saved: true });
    expect(await me(app, cookie)).toEqual({ user: 'ida', note: 'signed' });

    const tampered = connect(`${cookie.slice(0, -2)}xx`);
    expect(await tampered.next('exception')).toEqual(unauthorized);
    await tampered.closed;
  });

  it('cookie store: the socket reads the sealed session, and a change fails with WsSessionError', async () => {
    const { app, connect } = await start(new CookieStore({ secret: [SECRET] }), {});
    const cookie = await logIn(app, 'jo');
    const socket = connect(cookie);
    expect(await socket.next('welcome')).toEqual({ user: 'jo', note: null });
    socket.send('note', { text: 'sealed', save: true });
    expect(await socket.next('note')).toEqual({
      error: 'WsSessionError',
      message: expect.stringContaining('cannot change a CookieStore session from a socket'),
    });
    socket.send('destroy');
    expect(await socket.next('destroy')).toEqual({ error: 'WsSessionError', message: expect.stringContaining('log out over HTTP') });
    expect(await me(app, cookie)).toEqual({ user: 'jo', note: null });
  });
});
