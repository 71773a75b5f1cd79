import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  type INestApplication,
  Module,
  Options,
  Patch,
  Post,
  Put,
  Req,
  UseGuards,
} from '@nestjs/common';
import {
  AuthData,
  CookieStore,
  Security,
  type SecurityFn,
  Session,
  SessionCsrfGuard,
  SessionAuthGuard,
  type SessionCsrfOptions,
  SessionModule,
  SessionService,
  SessionStore,
  SkipCsrf,
} from '@novanest/session';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { cookieValue, setCookieFor } from './support/cookies.js';
import { InstrumentedStore } from './support/instrumented-store.js';
import { PLATFORMS, type Platform, startApp } from './support/platforms.js';

const COOKIE_SECRET = 'csrf-e2e-cookie-store-secret-0123456789abcdef';

/** How many times each handler ran: a refused request must leave its count alone. */
const runs = new Map<string, number>();
function ran(name: string): number {
  runs.set(name, (runs.get(name) ?? 0) + 1);
  return runs.get(name) ?? 0;
}
function runsOf(name: string): number {
  return runs.get(name) ?? 0;
}

const usernamePassword: SecurityFn = ({ params }) =>
  params.password === 'secret' && typeof params.username === 'string' ? { username: params.username } : false;

/** Writes a key before the CSRF guard runs (guards in the other order): a refusal must drop it. */
const stagesThenPasses: SecurityFn = async ({ session }) => {
  await session.set('staged', 'by the security function');
  return true;
};

@Controller()
@UseGuards(SessionCsrfGuard, SessionAuthGuard)
class CsrfController {
  constructor(private readonly sessions: SessionService) {}

  /** A page with a form: the token of this visitor's session, anonymous or not. */
  @Get('form')
  @Security(false)
  async form(@Req() req: object) {
    return { token: await this.sessions.csrfToken(req) };
  }

  /** Two tokens in one response: each masked afresh. */
  @Get('two-tokens')
  @Security(false)
  async twoTokens(@Req() req: object) {
    return { first: await this.sessions.csrfToken(req), second: await this.sessions.csrfToken(req) };
  }

  @Get('state')
  @Security(false)
  async state(@Session() session: Session) {
    return { all: await session.all(), username: (await session.get('username')) ?? null };
  }

  /** Application code cannot read or overwrite the secret under its reserved key. */
  @Get('reserved')
  @Security(false)
  async reserved(@Session() session: Session) {
    const refusals: string[] = [];
    for (const attempt of [() => session.set('$csrf', 'planted'), () => session.get('$csrf')]) {
      await attempt().catch((error: unknown) => refusals.push((error as Error).message));
    }
    return { refusals };
  }

  @Post('counter')
  @HttpCode(200)
  @Security(false)
  async increment(@Session() session: Session) {
    ran('counter');
    const counter = ((await session.get<number>('counter')) ?? 0) + 1;
    await session.set('counter', counter);
    return { counter };
  }

  @Post('echo')
  @HttpCode(200)
  @Security(false)
  echo(@Body() body: Record<string, unknown>) {
    ran('echo');
    return { body };
  }

  @Put('thing')
  @Security(false)
  put() {
    return { ran: ran('put') };
  }

  @Patch('thing')
  @Security(false)
  patch() {
    return { ran: ran('patch') };
  }

  @Delete('thing')
  @Security(false)
  remove() {
    return { ran: ran('delete') };
  }

  @Options('thing')
  @Security(false)
  options() {
    return { ran: ran('options') };
  }

  @Post('webhook')
  @HttpCode(200)
  @SkipCsrf()
  @Security(false)
  webhook() {
    return { ran: ran('webhook') };
  }

  @Post('login')
  @HttpCode(200)
  @Security(usernamePassword)
  async login(@AuthData('username') username: string, @Session() session: Session, @Req() req: object) {
    ran('login');
    await session.regenerate({ keep: [] });
    await session.set('username', username);
    // The page after login gets a token of the new secret.
    return { username, token: await this.sessions.csrfToken(req) };
  }
}

/** The guards in the other order: a security function stages a change before the CSRF check. */
@Controller('reversed')
@UseGuards(SessionAuthGuard, SessionCsrfGuard)
class ReversedController {
  @Post('write')
  @HttpCode(200)
  @Security(stagesThenPasses)
  write() {
    return { ran: ran('reversed') };
  }
}

function csrfModule(store: SessionStore, csrf?: SessionCsrfOptions) {
  @Module({
    imports: [SessionModule.forRoot(store, { csrf })],
    controllers: [CsrfController, ReversedController],
  })
  class CsrfModule {}
  return CsrfModule;
}

/** A token that has the right shape but belongs to no session. */
function forgedToken(): string {
  return randomBytes(64).toString('base64url');
}

/** A browser: keeps its cookie; `token()` fetches the form's token. */
function browserOf(server: ReturnType<INestApplication['getHttpServer']>) {
  const agent = request.agent(server);
  return {
    agent,
    async token(): Promise<string> {
      const response = await agent.get('/form');
      expect(response.status).toBe(200);
      return response.body.token as string;
    },
  };
}

describe.each(PLATFORMS)('SessionCsrfGuard on %s', (platform: Platform) => {
  let app: INestApplication;
  let server: ReturnType<INestApplication['getHttpServer']>;
  let store: InstrumentedStore;
  let origin: string;

  beforeAll(async () => {
    store = new InstrumentedStore();
    app = await startApp(platform, csrfModule(store));
    server = app.getHttpServer();
    origin = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await app.close();
  });

  it('safe methods pass without a token, even cross-site, and the form gets a token', async () => {
    const get = await request(server).get('/form').set('Origin', 'https://evil.example').set('Sec-Fetch-Site', 'cross-site');
    expect(get.status).toBe(200);
    expect(get.body.token).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect((await request(server).head('/form')).status).toBe(200);
    const before = runsOf('options');
    const options = await request(server).options('/thing').set('Origin', 'https://evil.example');
    expect(options.status).toBe(200);
    expect(runsOf('options')).toBe(before + 1);
  });

  it('a POST without a token is a 403 that says so; the handler does not run and nothing is committed', async () => {
    const browser = browserOf(server);
    const token = await browser.token();
    expect((await browser.agent.post('/counter').set('x-csrf-token', token)).body).toEqual({ counter: 1 });
    const before = runsOf('counter');
    const writes = store.count('write');
    const refused = await browser.agent.post('/counter').set('Accept', 'application/json');
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(
      /^CSRF token missing: send the token of this session in the x-csrf-token header or the _csrf form field/,
    );
    expect(refused.body.error).toBe('Forbidden');
    expect(runsOf('counter')).toBe(before);
    expect(store.count('write')).toBe(writes);
    expect(setCookieFor(refused)).toBeUndefined();
    expect((await browser.agent.get('/state')).body.all).toEqual({ counter: 1 });
  });

  it('PUT, PATCH and DELETE need the token too', async () => {
    const browser = browserOf(server);
    const token = await browser.token();
    for (const method of ['put', 'patch', 'delete'] as const) {
      const before = runsOf(method);
      expect((await browser.agent[method]('/thing')).status).toBe(403);
      expect(runsOf(method)).toBe(before);
      const passed = await browser.agent[method]('/thing').set('x-csrf-token', token);
      expect(passed.status).toBe(200);
      expect(runsOf(method)).toBe(before + 1);
    }
  });

  it('a wrong token is a 403 "invalid"', async () => {
    const browser = browserOf(server);
    await browser.token();
    const before = runsOf('counter');
    for (const wrong of [forgedToken(), 'not-a-token', (await browser.token()).slice(0, 80)]) {
      const refused = await browser.agent.post('/counter').set('x-csrf-token', wrong);
      expect(refused.status).toBe(403);
      expect(refused.body.message).toMatch(/^CSRF token invalid/);
    }
    expect(runsOf('counter')).toBe(before);
  });

  it('a token from another session is refused', async () => {
    const victim = browserOf(server);
    const attacker = browserOf(server);
    await victim.token();
    const attackersToken = await attacker.token();
    const refused = await victim.agent.post('/counter').set('x-csrf-token', attackersToken);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^CSRF token invalid/);
    // Its own session accepts it.
    expect((await attacker.agent.post('/counter').set('x-csrf-token', attackersToken)).status).toBe(200);
  });

  it('a session that never asked for a token accepts none', async () => {
    const browser = browserOf(server);
    const cookieOnly = await browser.agent.get('/state');
    expect(cookieOnly.status).toBe(200);
    const refused = await browser.agent.post('/counter').set('x-csrf-token', forgedToken());
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^CSRF token invalid/);
  });

  it('tokens are masked afresh each time, and every one of them (replayed too) is accepted', async () => {
    const browser = browserOf(server);
    const { first, second } = (await browser.agent.get('/two-tokens')).body as { first: string; second: string };
    const third = await browser.token();
    expect(new Set([first, second, third]).size).toBe(3);
    const counters: number[] = [];
    for (const token of [first, second, third, first, first]) {
      const response = await browser.agent.post('/counter').set('x-csrf-token', token);
      expect(response.status).toBe(200);
      counters.push(response.body.counter as number);
    }
    expect(counters).toEqual([1, 2, 3, 4, 5]);
  });

  it('a JSON client sends the header; a form sends the _csrf field, urlencoded or in JSON', async () => {
    const browser = browserOf(server);
    const token = await browser.token();
    const json = await browser.agent.post('/echo').set('x-csrf-token', token).send({ name: 'ada' });
    expect(json.status).toBe(200);
    expect(json.body.body).toEqual({ name: 'ada' });
    const form = await browser.agent.post('/echo').type('form').send({ _csrf: token, name: 'ada' });
    expect(form.status).toBe(200);
    expect(form.body.body).toEqual({ _csrf: token, name: 'ada' });
    const jsonField = await browser.agent.post('/echo').send({ _csrf: token, name: 'ada' });
    expect(jsonField.status).toBe(200);
    // A field that is not a string, or a token in the query string, is no token.
    const notString = await browser.agent.post('/echo').send({ _csrf: [token] });
    expect(notString.status).toBe(403);
    expect(notString.body.message).toMatch(/^CSRF token missing/);
    const query = await browser.agent.post('/echo').query({ _csrf: token }).send({});
    expect(query.status).toBe(403);
  });

  it("a POST from the app's own origin passes; from another origin it is refused even with a valid token", async () => {
    const browser = browserOf(server);
    const token = await browser.token();
    const same = await browser.agent.post('/counter').set('Origin', origin).set('Sec-Fetch-Site', 'same-origin').set('x-csrf-token', token);
    expect(same.status).toBe(200);
    const before = runsOf('counter');
    for (const other of ['https://evil.example', origin.replace('http://', 'https://'), origin.replace(/:\d+$/, ':1'), 'null']) {
      const refused = await browser.agent.post('/counter').set('Origin', other).set('x-csrf-token', token);
      expect(refused.status).toBe(403);
      expect(refused.body.message).toMatch(/^Cross-origin request refused: /);
    }
    expect(runsOf('counter')).toBe(before);
    // Origin: null with Sec-Fetch-Site: same-origin is the site's own form under Referrer-Policy: no-referrer.
    const noReferrer = await browser.agent
      .post('/counter')
      .set('Origin', 'null')
      .set('Sec-Fetch-Site', 'same-origin')
      .set('x-csrf-token', token);
    expect(noReferrer.status).toBe(200);
    const evil = await browser.agent.post('/counter').set('Origin', 'https://evil.example').set('x-csrf-token', token);
    expect(evil.body.message).toContain('its Origin https://evil.example is not this site');
  });

  it('Sec-Fetch-Site: cross-site is refused even with a valid token, with or without an Origin', async () => {
    const browser = browserOf(server);
    const token = await browser.token();
    const before = runsOf('counter');
    const bare = await browser.agent.post('/counter').set('Sec-Fetch-Site', 'cross-site').set('x-csrf-token', token);
    expect(bare.status).toBe(403);
    expect(bare.body.message).toMatch(/Sec-Fetch-Site: cross-site/);
    const withOrigin = await browser.agent
      .post('/counter')
      .set('Origin', origin)
      .set('Sec-Fetch-Site', 'cross-site')
      .set('x-csrf-token', token);
    expect(withOrigin.status).toBe(403);
    expect(runsOf('counter')).toBe(before);
  });

  it('login CSRF: an anonymous POST /login without a token is a 403 and commits nothing, no cookie, no record', async () => {
    const before = runsOf('login');
    const writes = store.count('write');
    const size = store.size;
    const forged = await request(server)
      .post('/login')
      .type('form')
      .set('Origin', 'https://evil.example')
      .send({ username: 'mallory', password: 'secret' });
    expect(forged.status).toBe(403);
    expect(setCookieFor(forged)).toBeUndefined();
    // Same-origin but without a token (what a form on a sibling page could do): refused too.
    const noToken = await request(server).post('/login').type('form').send({ username: 'mallory', password: 'secret' });
    expect(noToken.status).toBe(403);
    expect(noToken.body.message).toMatch(/^CSRF token missing/);
    expect(setCookieFor(noToken)).toBeUndefined();
    expect(runsOf('login')).toBe(before);
    expect(store.count('write')).toBe(writes);
    expect(store.size).toBe(size);
  });

  it('login CSRF: an anonymous session that has a token is still refused without it, and stays logged out', async () => {
    const browser = browserOf(server);
    await browser.token();
    const refused = await browser.agent.post('/login').type('form').send({ username: 'mallory', password: 'secret' });
    expect(refused.status).toBe(403);
    expect((await browser.agent.get('/state')).body.username).toBeNull();
  });

  it('login with the token works, renews the secret: a token from before login is refused after it', async () => {
    const browser = browserOf(server);
    const anonymousToken = await browser.token();
    const login = await browser.agent.post('/login').type('form').send({ _csrf: anonymousToken, username: 'ada', password: 'secret' });
    expect(login.status).toBe(200);
    expect(login.body.username).toBe('ada');
    const stale = await browser.agent.post('/counter').set('x-csrf-token', anonymousToken);
    expect(stale.status).toBe(403);
    expect(stale.body.message).toMatch(/^CSRF token invalid/);
    // The token the login response carried, and any fresh one, work.
    expect((await browser.agent.post('/counter').set('x-csrf-token', login.body.token as string)).status).toBe(200);
    const fresh = await browser.token();
    expect((await browser.agent.post('/counter').set('x-csrf-token', fresh)).status).toBe(200);
    expect((await browser.agent.get('/state')).body.username).toBe('ada');
  });

  it('@SkipCsrf() exempts a route', async () => {
    const before = runsOf('webhook');
    const response = await request(server).post('/webhook').set('Origin', 'https://sender.example').send({ event: 'paid' });
    expect(response.status).toBe(200);
    expect(runsOf('webhook')).toBe(before + 1);
  });

  it('a refused request drops what an earlier guard staged in its session', async () => {
    const browser = browserOf(server);
    await browser.token();
    const before = runsOf('reversed');
    const refused = await browser.agent.post('/reversed/write');
    expect(refused.status).toBe(403);
    expect(runsOf('reversed')).toBe(before);
    expect((await browser.agent.get('/state')).body.all).toEqual({});
    // With the token the same staged change is kept.
    const token = await browser.token();
    expect((await browser.agent.post('/reversed/write').set('x-csrf-token', token)).status).toBe(200);
    expect((await browser.agent.get('/state')).body.all).toEqual({ staged: 'by the security function' });
  });

  it('the secret stays out of all() and a user cannot set it', async () => {
    const browser = browserOf(server);
    const token = await browser.token();
    expect((await browser.agent.get('/state')).body.all).toEqual({});
    const reserved = await browser.agent.get('/reserved');
    expect(reserved.body.refusals).toEqual([
      'session key "$csrf" is reserved for the CSRF secret; use SessionService.csrfToken(request)',
      'session key "$csrf" is reserved for the CSRF secret; use SessionService.csrfToken(request)',
    ]);
    expect((await browser.agent.post('/counter').set('x-csrf-token', token)).status).toBe(200);
  });
});

describe.each(PLATFORMS)('SessionCsrfGuard options and the cookie store on %s', (platform: Platform) => {
  it('csrf.trustedOrigins lets a listed origin in (cross-site too) and no other', async () => {
    const app = await startApp(platform, csrfModule(new InstrumentedStore(), { trustedOrigins: ['https://front.example'] }));
    try {
      const browser = browserOf(app.getHttpServer());
      const token = await browser.token();
      const trusted = await browser.agent
        .post('/counter')
        .set('Origin', 'https://front.example')
        .set('Sec-Fetch-Site', 'cross-site')
        .set('x-csrf-token', token);
      expect(trusted.status).toBe(200);
      const other = await browser.agent.post('/counter').set('Origin', 'https://back.example').set('x-csrf-token', token);
      expect(other.status).toBe(403);
      // Trusted origins still need the token.
      expect((await browser.agent.post('/counter').set('Origin', 'https://front.example')).status).toBe(403);
    } finally {
      await app.close();
    }
  });

  it('csrf.requireOrigin refuses a request with neither Origin nor Sec-Fetch-Site', async () => {
    const app = await startApp(platform, csrfModule(new InstrumentedStore(), { requireOrigin: true }));
    try {
      const browser = browserOf(app.getHttpServer());
      const token = await browser.token();
      const bare = await browser.agent.post('/counter').set('x-csrf-token', token);
      expect(bare.status).toBe(403);
      expect(bare.body.message).toMatch(/neither an Origin nor a Sec-Fetch-Site header/);
      const marked = await browser.agent.post('/counter').set('Sec-Fetch-Site', 'same-origin').set('x-csrf-token', token);
      expect(marked.status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('a bad trusted origin stops the application at start-up with one sentence', async () => {
    await expect(
      startApp(platform, csrfModule(new InstrumentedStore(), { trustedOrigins: ['https://front.example/app'] })),
    ).rejects.toThrow(
      /^session csrf trustedOrigins entry "https:\/\/front.example\/app" is not an origin; write it as scheme:\/\/host\[:port\], e.g. 'https:\/\/app.example.com'$/,
    );
  });

  it('works with the cookie store: the secret rides in the sealed cookie, renewed at login', async () => {
    const app = await startApp(platform, csrfModule(new CookieStore({ secret: COOKIE_SECRET })));
    try {
      const browser = browserOf(app.getHttpServer());
      const token = await browser.token();
      expect((await browser.agent.post('/counter').set('x-csrf-token', token)).status).toBe(200);
      expect((await browser.agent.post('/counter')).status).toBe(403);
      const other = browserOf(app.getHttpServer());
      // The agent picks its cookie when the request is made: fetch the token first.
      const otherToken = await other.token();
      expect((await other.agent.post('/counter').set('x-csrf-token', otherToken)).status).toBe(200);
      expect((await other.agent.post('/counter').set('x-csrf-token', token)).status).toBe(403);
      const login = await browser.agent.post('/login').send({ _csrf: token, username: 'ada', password: 'secret' });
      expect(login.status).toBe(200);
      expect(cookieValue(login)).toBeDefined();
      expect((await browser.agent.post('/counter').set('x-csrf-token', token)).status).toBe(403);
      expect((await browser.agent.post('/counter').set('x-csrf-token', login.body.token as string)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
