/**
 * The store contract's part for a user's sessions (`bindUser`, `SessionService`'s list and
 * revoke calls), run by `runStoreContract` for every store that keeps a per-user index
 * (`StoreContract.userIndex`): through HTTP on both platforms, and the index's expiry at
 * store level.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Body, Controller, Get, HttpCode, type INestApplication, Post, Req } from '@nestjs/common';
import request from 'supertest';
import { it as vitestIt } from 'vitest';
import { Session, SessionService, type SessionStore, type SessionWrite, type UserSessionInfo } from '@novanest/session';
import { cookieValue } from './cookies.js';
import { type Platform, startApp } from './platforms.js';
import type { StoreContract, StoreFixture } from './store-contract.js';

/** The routes of the user-index cases (a login that binds, the sessions page, revocation). */
@Controller('user')
export class UserIndexController {
  constructor(private readonly sessions: SessionService) {}

  /** Login as the apps do it: a new id, then the binding with the device's metadata. */
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session, @Req() req: { headers: Record<string, string | undefined> }, @Body() body: { user: string }) {
    await session.regenerate();
    await session.bindUser(body.user, { userAgent: req.headers['user-agent'], ip: '203.0.113.7' });
    await session.set('user', body.user);
    return { ok: true };
  }

  /** Who this session belongs to, or null: a revoked session is a fresh, anonymous one. */
  @Get('me')
  async me(@Session() session: Session) {
    await session.load();
    return { userId: session.userId ?? null, user: (await session.get('user')) ?? null };
  }

  @Get('sessions')
  async list(@Session() session: Session, @Req() req: object) {
    await session.load();
    return this.sessions.listUserSessions(session.userId as string, req);
  }

  @Post('revoke')
  @HttpCode(200)
  async revoke(@Session() session: Session, @Body() body: { handle: string }) {
    await session.load();
    return { revoked: await this.sessions.revokeUserSession(session.userId as string, body.handle) };
  }

  @Post('revoke-others')
  @HttpCode(200)
  async revokeOthers(@Session() session: Session, @Req() req: object) {
    await session.load();
    return { revoked: await this.sessions.revokeUserSessions(session.userId as string, { except: req }) };
  }

  @Post('revoke-all')
  @HttpCode(200)
  async revokeAll(@Session() session: Session) {
    await session.load();
    return { revoked: await this.sessions.revokeUserSessions(session.userId as string) };
  }

  /** After a password change: a new id for this device, and every other device logged out. */
  @Post('renew-revoke-others')
  @HttpCode(200)
  async renewRevokeOthers(@Session() session: Session, @Req() req: object) {
    await session.regenerate();
    return { revoked: await this.sessions.revokeUserSessions(session.userId as string, { except: req }) };
  }

  /** A logout the Phoenix way: a new id, nothing kept, a flash. */
  @Post('renew-empty')
  @HttpCode(200)
  async renewEmpty(@Session() session: Session) {
    await session.regenerate({ keep: [] });
    await session.flash('info', 'Logged out');
    return { ok: true };
  }
}

const withId = (id: string): string => `session_id=${id}`;

/** The Redis key of a user's index under `prefix`, as `RedisStore` names it. */
export function userIndexKey(prefix: string, userId: string): string {
  return `${prefix}user:${createHash('sha256').update(userId).digest('base64url')}`;
}

/** Runs the user-index cases on one platform; `server()` and `fixture()` are the contract's. */
export function runUserIndexCases(
  contract: StoreContract,
  platform: Platform,
  context: {
    server: () => ReturnType<INestApplication['getHttpServer']>;
    fixture: () => StoreFixture;
    appModule: (store: SessionStore) => Parameters<typeof startApp>[1];
    it: (name: string, body: () => Promise<void>) => void;
  },
): void {
  const { it } = context;
  const user = (): string => `user-${randomBytes(6).toString('hex')}`;

  async function login(userId: string, device: string, target = context.server()): Promise<string> {
    const response = await request(target).post('/user/login').set('User-Agent', device).send({ user: userId });
    expect(response.status).toBe(200);
    const id = cookieValue(response);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return id as string;
  }

  async function me(id: string, target = context.server()): Promise<{ userId: string | null; user: string | null }> {
    const response = await request(target).get('/user/me').set('Cookie', withId(id));
    expect(response.status).toBe(200);
    return response.body as { userId: string | null; user: string | null };
  }

  async function list(id: string): Promise<UserSessionInfo[]> {
    const response = await request(context.server()).get('/user/sessions').set('Cookie', withId(id));
    expect(response.status).toBe(200);
    return response.body as UserSessionInfo[];
  }

  async function post(path: string, id: string, body: object = {}): Promise<{ revoked: unknown }> {
    const response = await request(context.server()).post(path).set('Cookie', withId(id)).send(body);
    expect(response.status).toBe(200);
    return response.body as { revoked: unknown };
  }

  it('lists two devices of one user with their metadata, marks the current one, and lists no one else', async () => {
    const ada = user();
    const before = Date.now();
    const laptop = await login(ada, 'laptop-browser');
    const phone = await login(ada, 'phone-browser');
    const other = await login(user(), 'someone-else');
    expect(await me(laptop)).toEqual({ userId: ada, user: ada });

    const sessions = await list(laptop);
    expect(sessions).toHaveLength(2);
    expect(sessions.map((each) => each.userAgent).sort()).toEqual(['laptop-browser', 'phone-browser']);
    const current = sessions.find((each) => each.current);
    expect(current?.userAgent).toBe('laptop-browser');
    expect(sessions.filter((each) => each.current)).toHaveLength(1);
    for (const each of sessions) {
      expect(each.ip).toBe('203.0.113.7');
      expect(each.handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
      // The handle is no cookie: neither the id nor anything that opens a session.
      expect([laptop, phone, other]).not.toContain(each.handle);
      expect(each.createdAt).toBeGreaterThanOrEqual(before - 1000);
      expect(each.lastSeenAt).toBeGreaterThanOrEqual(each.createdAt);
      expect(each.lastSeenAt).toBeLessThanOrEqual(Date.now() + 1000);
    }
    expect((await list(phone)).find((each) => each.current)?.userAgent).toBe('phone-browser');
  });

  it('revoking one session logs that device out on its next request, on every node; the other stays', async () => {
    const ada = user();
    const laptop = await login(ada, 'laptop-browser');
    const phone = await login(ada, 'phone-browser');
    // A second node that has just served the phone (and, with a near-cache, holds its session).
    const sibling = await startApp(platform, context.appModule(await context.fixture().sibling()));
    try {
      const otherNode = sibling.getHttpServer();
      expect(await me(phone, otherNode)).toEqual({ userId: ada, user: ada });

      const handle = (await list(laptop)).find((each) => each.userAgent === 'phone-browser')?.handle;
      expect(handle).toBeDefined();
      expect(await post('/user/revoke', laptop, { handle })).toEqual({ revoked: true });
      // Again: nothing left under that handle.
      expect(await post('/user/revoke', laptop, { handle })).toEqual({ revoked: false });

      expect(await me(phone, otherNode)).toEqual({ userId: null, user: null });
      expect(await me(phone)).toEqual({ userId: null, user: null });
      expect(await me(laptop)).toEqual({ userId: ada, user: ada });
      expect((await list(laptop)).map((each) => each.userAgent)).toEqual(['laptop-browser']);
    } finally {
      await sibling.close();
    }
  });

  it("refuses to revoke another user's session by its handle", async () => {
    const ada = user();
    const laptop = await login(ada, 'laptop-browser');
    const mallory = await login(user(), 'mallory');
    const handle = (await list(laptop))[0].handle;
    expect(await post('/user/revoke', mallory, { handle })).toEqual({ revoked: false });
    expect(await me(laptop)).toEqual({ userId: ada, user: ada });
  });

  it('revoke-others keeps the current session and ends the rest; revoke-all ends every one', async () => {
    const ada = user();
    const devices = [await login(ada, 'a'), await login(ada, 'b'), await login(ada, 'c')];
    const bystander = await login(user(), 'bystander');
    expect(await post('/user/revoke-others', devices[0], {})).toEqual({ revoked: 2 });
    expect(await me(devices[0])).toEqual({ userId: ada, user: ada });
    expect(await me(devices[1])).toEqual({ userId: null, user: null });
    expect(await me(devices[2])).toEqual({ userId: null, user: null });
    expect((await list(devices[0])).map((each) => each.current)).toEqual([true]);

    const again = await login(ada, 'd');
    expect(await post('/user/revoke-all', again, {})).toEqual({ revoked: 2 });
    expect(await me(devices[0])).toEqual({ userId: null, user: null });
    expect(await me(again)).toEqual({ userId: null, user: null });
    expect((await me(bystander)).userId).not.toBeNull();
  });

  it('the binding goes along with regenerate(), and ends with clear(), regenerate({ keep }) and destroy()', async () => {
    const ada = user();
    const laptop = await login(ada, 'laptop-browser');
    const renewed = cookieValue(await request(context.server()).post('/regenerate').set('Cookie', withId(laptop)));
    expect(renewed).toBeDefined();
    expect(await me(renewed as string)).toEqual({ userId: ada, user: ada });
    expect(await me(laptop)).toEqual({ userId: null, user: null });
    const listed = await list(renewed as string);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ current: true, userAgent: 'laptop-browser' });

    // A logout by clear(): the session stays, bound to no one, and leaves the user's list.
    const phone = await login(ada, 'phone-browser');
    const cleared = await request(context.server())
      .post('/clear')
      .set('Cookie', withId(renewed as string));
    expect(cleared.status).toBe(200);
    expect(await me(renewed as string)).toEqual({ userId: null, user: null });
    expect((await list(phone)).map((each) => each.userAgent)).toEqual(['phone-browser']);

    // A logout by regenerate({ keep: [] }) with a flash: the new id is bound to no one either.
    const tablet = await login(ada, 'tablet-browser');
    const renewedEmpty = await post('/user/renew-empty', tablet, {});
    expect(renewedEmpty).toEqual({ ok: true });
    expect((await list(phone)).map((each) => each.userAgent)).toEqual(['phone-browser']);

    const destroyed = await request(context.server()).post('/destroy').set('Cookie', withId(phone));
    expect(destroyed.status).toBe(200);
    const fresh = await login(ada, 'desktop-browser');
    expect((await list(fresh)).map((each) => each.userAgent)).toEqual(['desktop-browser']);
  });

  it('regenerate() then revoke-others in one request keeps this device and counts only the others', async () => {
    const ada = user();
    const [laptop, phone] = [await login(ada, 'laptop'), await login(ada, 'phone')];
    const response = await request(context.server()).post('/user/renew-revoke-others').set('Cookie', withId(laptop)).send({});
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ revoked: 1 });
    const renewed = cookieValue(response) as string;
    expect(renewed).toBeDefined();
    expect(renewed).not.toBe(laptop);
    expect(await me(renewed)).toEqual({ userId: ada, user: ada });
    expect(await me(phone)).toEqual({ userId: null, user: null });
    expect(await me(laptop)).toEqual({ userId: null, user: null });
    expect((await list(renewed)).map((each) => [each.userAgent, each.current])).toEqual([['laptop', true]]);
  });

  it('lastSeenAt moves when the session is written', async () => {
    const ada = user();
    const laptop = await login(ada, 'laptop-browser');
    const [first] = await list(laptop);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const write = await request(context.server()).post('/set').set('Cookie', withId(laptop)).send({ key: 'k', value: 1 });
    expect(write.status).toBe(200);
    const [second] = await list(laptop);
    expect(second.createdAt).toBe(first.createdAt);
    expect(second.lastSeenAt).toBeGreaterThan(first.lastSeenAt);
  });
}

function createWrite(userId: string, ttl: number): SessionWrite {
  const now = Date.now();
  return {
    mode: 'create',
    set: new Map<string, unknown>([['$user', { id: userId, seenAt: now }]]),
    delete: [],
    clear: false,
    createdAt: now,
    ttl,
    user: { userId, deadline: now + ttl },
  };
}

/** The index at store level: entries go with their sessions (expiry, destroy). */
export function runUserIndexExpiry(contract: StoreContract): void {
  describe(`${contract.name} user index (store level)`, () => {
    let fixture: StoreFixture | undefined;
    let setupError: unknown;
    const it = (name: string, body: (store: SessionStore & Required<Pick<SessionStore, 'listByUser'>>) => Promise<void>): void => {
      vitestIt(name, async () => {
        if (setupError !== undefined) throw setupError;
        const store = (fixture as StoreFixture).store;
        expect(typeof store.listByUser).toBe('function');
        await body(store as SessionStore & Required<Pick<SessionStore, 'listByUser'>>);
      });
    };
    beforeAll(async () => {
      try {
        fixture = await contract.create();
      } catch (error) {
        setupError = error;
      }
    });
    afterAll(async () => {
      await fixture?.close();
    });

    it('expired sessions leave the index; a destroyed one leaves the list at once', async () => {
      const userId = `user-${randomBytes(6).toString('hex')}`;
      const key = (): string => randomBytes(32).toString('base64url');
      const [short, long] = [key(), key()];
      expect(await store_(short, createWrite(userId, 150))).toBe(true);
      expect(await store_(long, createWrite(userId, 60_000))).toBe(true);
      expect((await fixture!.store.listByUser!(userId)).map((each) => each.key).sort()).toEqual([short, long].sort());
      await new Promise((resolve) => setTimeout(resolve, 400));
      const listed = await fixture!.store.listByUser!(userId);
      expect(listed.map((each) => each.key)).toEqual([long]);
      expect(Object.fromEntries(listed[0].session.data)).toMatchObject({ $user: { id: userId } });
      // Not only hidden: the expired session's entry is gone from the index itself.
      if (fixture!.userIndexSize !== undefined) expect(await fixture!.userIndexSize(userId)).toBe(1);
      await fixture!.store.destroy(long);
      expect(await fixture!.store.listByUser!(userId)).toEqual([]);
    });

    it("a destroy that leaves a mark (a logout, a revoke) takes the session's entry out of the index at the next list", async () => {
      const userId = `user-${randomBytes(6).toString('hex')}`;
      const key = randomBytes(32).toString('base64url');
      expect(await store_(key, createWrite(userId, 60_000))).toBe(true);
      expect((await fixture!.store.listByUser!(userId)).map((each) => each.key)).toEqual([key]);
      await fixture!.store.destroy(key, 60_000);
      expect(await fixture!.store.listByUser!(userId)).toEqual([]);
      if (fixture!.userIndexSize !== undefined) expect(await fixture!.userIndexSize(userId)).toBe(0);
    });

    function store_(key: string, change: SessionWrite): Promise<boolean> {
      return fixture!.store.write(key, change);
    }
  });
}
