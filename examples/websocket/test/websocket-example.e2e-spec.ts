/**
 * The WebSocket example as a user runs it: log in over HTTP, connect with the cookie, get
 * greeted by name; messages that need a session work until a logout over HTTP, then are refused.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { setCookieFor } from '../../../test/support/cookies.js';
import { urlOf } from '../../../test/support/platforms.js';
import { type TestSocket, connectSocket } from '../../../test/support/socket-clients.js';
import { AppModule } from '../src/app.module.js';

const refused = { status: 'error', statusCode: 401, message: 'Authentication required; please log in.' };

describe('examples/websocket', () => {
  let app: INestApplication;
  let baseUrl: string;
  const sockets: TestSocket[] = [];
  const connect = (cookie?: string): TestSocket => {
    const socket = connectSocket('socket.io', baseUrl, { cookie });
    sockets.push(socket);
    return socket;
  };

  async function logIn(username: string): Promise<string> {
    const response = await request(app.getHttpServer()).post('/login').send({ username }).expect(200);
    expect(response.body).toEqual({ username });
    return setCookieFor(response)!.split(';')[0];
  }

  beforeAll(async () => {
    const testing = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = testing.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    baseUrl = await urlOf(app);
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await app.close();
  });

  it('serves the page that tries it in a browser, with the socket.io client script', async () => {
    const page = await request(app.getHttpServer()).get('/').expect(200);
    expect(page.text).toContain('<script src="/socket.io/socket.io.js">');
    await request(app.getHttpServer()).get('/socket.io/socket.io.js').expect(200);
  });

  it('greets the session user on connect', async () => {
    const cookie = await logIn('Ada');
    expect(await connect(cookie).next('welcome')).toEqual({ text: 'Hello Ada!' });
  });

  it('a message that changes the session saves it: HTTP sees the count', async () => {
    const cookie = await logIn('Grace');
    const socket = connect(cookie);
    await socket.next('welcome');
    socket.send('count');
    expect(await socket.next('counted')).toEqual({ sent: 1 });
    socket.send('count');
    expect(await socket.next('counted')).toEqual({ sent: 2 });
    const me = await request(app.getHttpServer()).get('/me').set('Cookie', cookie).expect(200);
    expect(me.body).toEqual({ username: 'Grace', sent: 2 });
  });

  it('messages that need a session are refused after logout over HTTP', async () => {
    const cookie = await logIn('Linus');
    const socket = connect(cookie);
    await socket.next('welcome');
    socket.send('say', 'hello room');
    expect(await socket.next('said')).toEqual({ from: 'Linus', text: 'hello room' });

    await request(app.getHttpServer()).post('/logout').set('Cookie', cookie).expect(200);
    socket.send('say', 'still here?');
    expect(await socket.next('exception')).toEqual(refused);
    socket.send('count');
    expect(await socket.next('exception')).toEqual(refused);
    await expect(socket.next('said', 300)).rejects.toThrow('no "said" message');
  });

  it('a visitor without a session is told why and disconnected at the handshake', async () => {
    const socket = connect();
    expect(await socket.next('exception')).toEqual(refused);
    expect(await socket.closed).toEqual({ reason: 'io server disconnect' });
  });
});
