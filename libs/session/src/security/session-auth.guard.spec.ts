import type { ServerResponse } from 'node:http';
import { type ExecutionContext, ForbiddenException, InternalServerErrorException, Logger, Scope } from '@nestjs/common';
import { type ModuleRef, Reflector } from '@nestjs/core';
import { acceptsJson } from './accepts-json.js';
import { AUTH_DATA } from './security.constants.js';
import { Security } from './security.decorator.js';
import { SecurityDeniedException, SecurityRedirectException, SessionUnauthorizedException } from './security.exceptions.js';
import type { SecurityCheck, SecurityContext, SecuritySetting } from './security.interface.js';
import { collectSecurityParams } from './security-params.js';
import { SecurityDenial, SecurityRedirect, deny, redirectTo } from './security.results.js';
import { SessionAuthGuard } from './session-auth.guard.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';
import type { SessionHandle } from '../session/session.handle.js';
import { SessionManager } from '../request/session.manager.js';
import { resolveSessionOptions } from '../session-options.js';
import { MemoryStore } from '../stores/memory/memory.store.js';

type FakeRequest = {
  headers: Record<string, string>;
  params?: unknown;
  query?: unknown;
  body?: unknown;
  [AUTH_DATA]?: unknown;
};

function fakeResponse(): ServerResponse {
  const noop = function (this: unknown) {
    return this;
  };
  return { writeHead: noop, write: () => true, end: noop, statusCode: 200 } as unknown as ServerResponse;
}

/** A controller class and handler carrying `@Security` settings, as Nest would see them. */
function route(classSetting: SecuritySetting | undefined, methodSetting: SecuritySetting | undefined) {
  class TestController {
    handler(): void {}
  }
  if (classSetting !== undefined) Security(classSetting)(TestController);
  if (methodSetting !== undefined) {
    const descriptor = Object.getOwnPropertyDescriptor(TestController.prototype, 'handler');
    Security(methodSetting)(TestController.prototype, 'handler', descriptor!);
  }
  return { controller: TestController, handler: TestController.prototype.handler };
}

function contextFor(target: ReturnType<typeof route>, request: FakeRequest, type: 'http' | 'rpc' = 'http'): ExecutionContext {
  const response = fakeResponse();
  return {
    getType: () => type,
    getClass: () => target.controller,
    getHandler: () => target.handler,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response, getNext: () => undefined }),
  } as unknown as ExecutionContext;
}

function fakeModuleRef() {
  return {
    introspect: vi.fn((_type: unknown): { scope: Scope } => {
      throw new Error('Nest could not find element');
    }),
    get: vi.fn(),
    resolve: vi.fn(),
    create: vi.fn(),
  };
}

describe('SessionAuthGuard', () => {
  let sessions: SessionManager;
  let moduleRef: ReturnType<typeof fakeModuleRef>;
  let guard: SessionAuthGuard;

  beforeEach(() => {
    sessions = new SessionManager(resolveSessionOptions({}), new MemoryStore());
    moduleRef = fakeModuleRef();
    guard = new SessionAuthGuard(new Reflector(), moduleRef as unknown as ModuleRef, sessions);
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const request = (extra: Partial<FakeRequest> = {}): FakeRequest => ({ headers: {}, ...extra });
  const handleOf = (req: FakeRequest) => sessions.sessionOf(req) as SessionHandle;

  it('passes a route without @Security and never touches the session', async () => {
    const req = request();
    await expect(guard.canActivate(contextFor(route(undefined, undefined), req))).resolves.toBe(true);
    expect(() => sessions.sessionOf(req)).toThrow(/No session here: a session belongs to an HTTP request/);
  });

  it('warns once per route that a route without @Security is public, never for @Security(false)', async () => {
    const warn = vi.spyOn(guard['logger'], 'warn').mockImplementation(() => undefined);
    const unmarked = route(undefined, undefined);
    await expect(guard.canActivate(contextFor(unmarked, request()))).resolves.toBe(true);
    await expect(guard.canActivate(contextFor(unmarked, request()))).resolves.toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      'TestController.handler has no @Security, so SessionAuthGuard lets every request through: the route is ' +
        'public. Mark it @Security(false) to make that explicit, or give it a security function.',
    );

    const other = route(undefined, undefined);
    await guard.canActivate(contextFor(other, request()));
    expect(warn).toHaveBeenCalledTimes(2);

    warn.mockClear();
    const open = route(undefined, false);
    await guard.canActivate(contextFor(open, request()));
    await guard.canActivate(contextFor(route(false, undefined), request()));
    await guard.canActivate(
      contextFor(
        route(false, () => true),
        request(),
      ),
    );
    expect(warn).not.toHaveBeenCalled();
  });

  it('passes @Security(false) without touching the session', async () => {
    const req = request();
    await expect(guard.canActivate(contextFor(route(undefined, false), req))).resolves.toBe(true);
    expect(() => sessions.sessionOf(req)).toThrow();
  });

  it('passes on true, leaving no auth data', async () => {
    const req = request();
    await expect(
      guard.canActivate(
        contextFor(
          route(undefined, () => true),
          req,
        ),
      ),
    ).resolves.toBe(true);
    expect(req[AUTH_DATA]).toBeUndefined();
    expect(handleOf(req).isSettled).toBe(false);
  });

  it('passes on a plain object and hangs it on the request as auth data', async () => {
    const req = request();
    const auth = { user: 'ann' };
    await guard.canActivate(
      contextFor(
        route(undefined, async () => auth),
        req,
      ),
    );
    expect(req[AUTH_DATA]).toBe(auth);
  });

  it('denies an auth-data object with authed === false (401, session discarded), warning once per route', async () => {
    const warn = vi.spyOn(guard['logger'], 'warn').mockImplementation(() => undefined);
    const target = route(undefined, () => ({ authed: false, user: undefined }));
    for (let i = 0; i < 2; i++) {
      const req = request();
      const attempt = guard.canActivate(contextFor(target, req));
      await expect(attempt).rejects.toBeInstanceOf(SessionUnauthorizedException);
      await expect(attempt).rejects.toMatchObject({ status: 401 });
      expect(req[AUTH_DATA]).toBeUndefined();
      expect(handleOf(req).isSettled).toBe(true);
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      'Security of TestController.handler returned an object with authed: false; denying the request (401) ' +
        'as for false. Return false to deny, or an object without authed: false to pass. (Logged once per route.)',
    );
  });

  it.each([
    ['authed: true', { authed: true, user: 'ann' }],
    ['authed: 0', { authed: 0 }],
    ['authed: "false"', { authed: 'false' }],
    ['authed: undefined', { authed: undefined, user: 'ann' }],
    ['no authed key', { user: 'ann' }],
  ])('still passes an auth-data object with %s (only the boolean false denies)', async (_name, auth) => {
    const req = request();
    await expect(
      guard.canActivate(
        contextFor(
          route(undefined, () => auth),
          req,
        ),
      ),
    ).resolves.toBe(true);
    expect(req[AUTH_DATA]).toBe(auth);
  });

  it('gives the security function the request, the shared session and merged params', async () => {
    const req = request({ params: { id: '7' }, query: { q: 'x' }, body: { b: 1 } });
    let seen: SecurityContext | undefined;
    await guard.canActivate(
      contextFor(
        route(undefined, (context) => {
          seen = context;
          return true;
        }),
        req,
      ),
    );
    expect(seen?.request).toBe(req);
    expect(seen?.session).toBe(sessions.sessionOf(req));
    expect({ ...seen?.params }).toEqual({ id: '7', q: 'x', b: 1 });
  });

  it('denies false with SessionUnauthorizedException and discards the session', async () => {
    const req = request();
    const attempt = guard.canActivate(
      contextFor(
        route(undefined, () => false),
        req,
      ),
    );
    await expect(attempt).rejects.toBeInstanceOf(SessionUnauthorizedException);
    await expect(attempt).rejects.toMatchObject({ status: 401 });
    expect(handleOf(req).isSettled).toBe(true);
    expect(handleOf(req).setCookieHeaders()).toEqual([]);
  });

  it('turns deny() into SecurityDeniedException with its status, headers and body', async () => {
    const req = request();
    const result = deny({ status: 403, headers: { 'X-Why': 'no' }, body: { why: 'no' } });
    const error = await guard
      .canActivate(
        contextFor(
          route(undefined, () => result),
          req,
        ),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecurityDeniedException);
    expect(error).not.toBeInstanceOf(SessionUnauthorizedException);
    const denied = error as SecurityDeniedException;
    expect(denied.getStatus()).toBe(403);
    expect(denied.headers).toEqual({ 'x-why': 'no' });
    expect(denied.body).toEqual({ why: 'no' });
    expect(handleOf(req).isSettled).toBe(true);
  });

  it('turns redirectTo() into SecurityRedirectException', async () => {
    const error = await guard
      .canActivate(
        contextFor(
          route(undefined, () => redirectTo('/login')),
          request(),
        ),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecurityRedirectException);
    expect((error as SecurityRedirectException).location).toBe('/login');
    expect((error as SecurityRedirectException).getStatus()).toBe(302);
  });

  it('treats a thrown deny() or redirectTo() as the same denial, not logged as a failure', async () => {
    for (const result of [deny({ status: 403 }), redirectTo('/login')]) {
      const req = request();
      const throwing = route(undefined, () => {
        throw result;
      });
      await expect(guard.canActivate(contextFor(throwing, req))).rejects.toBe(result);
      expect(handleOf(req).isSettled).toBe(true);
    }
    expect(Logger.prototype.error).not.toHaveBeenCalled();
  });

  it('keeps the former result names as the same classes', () => {
    expect(deny()).toBeInstanceOf(SecurityDenial);
    expect(redirectTo('/x')).toBeInstanceOf(SecurityRedirect);
    expect(redirectTo('/x')).toBeInstanceOf(SecurityDeniedException);
    expect(redirectTo('/café').url).toBe(redirectTo('/café').location);
  });

  it('turns a thrown error into a logged 500 and discards the session', async () => {
    const req = request();
    const failing = route(undefined, () => {
      throw new Error('db down');
    });
    const error = await guard.canActivate(contextFor(failing, req)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalServerErrorException);
    expect((error as InternalServerErrorException).message).toBe('Security check failed');
    expect(Logger.prototype.error).toHaveBeenCalledWith(
      'Security of TestController.handler threw: db down',
      expect.stringContaining('db down'),
    );
    expect(handleOf(req).isSettled).toBe(true);
  });

  it('keeps the 503 of an unavailable store as it is', async () => {
    const unavailable = new SessionStoreUnavailableException();
    const error = await guard
      .canActivate(
        contextFor(
          route(undefined, () => {
            throw unavailable;
          }),
          request(),
        ),
      )
      .catch((e: unknown) => e);
    expect(error).toBe(unavailable);
    expect(Logger.prototype.error).not.toHaveBeenCalled();
  });

  it('keeps a deliberate 4xx HttpException', async () => {
    const forbidden = new ForbiddenException('nope');
    const failing = route(undefined, () => {
      throw forbidden;
    });
    await expect(guard.canActivate(contextFor(failing, request()))).rejects.toBe(forbidden);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'true'],
    ['a number', 1],
    ['an array', [{ user: 'x' }]],
    ['a class instance', new Date()],
    ['a look-alike of deny()', { status: 403, headers: {}, body: 'x', __proto__: SecurityDenial }],
  ])('fails closed on %s', async (_name, value) => {
    const error = await guard
      .canActivate(
        contextFor(
          route(undefined, () => value as unknown as boolean),
          request(),
        ),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionUnauthorizedException);
    expect(Logger.prototype.warn).toHaveBeenCalled();
  });

  it('lets the method override the class, including @Security(false)', async () => {
    const denyAll = () => deny({ status: 403 });
    await expect(guard.canActivate(contextFor(route(denyAll, undefined), request()))).rejects.toMatchObject({
      status: 403,
    });
    await expect(guard.canActivate(contextFor(route(denyAll, false), request()))).resolves.toBe(true);
    const req = request();
    await guard.canActivate(
      contextFor(
        route(denyAll, () => ({ level: 'method' })),
        req,
      ),
    );
    expect(req[AUTH_DATA]).toEqual({ level: 'method' });
    await expect(
      guard.canActivate(
        contextFor(
          route(false, () => false),
          request(),
        ),
      ),
    ).rejects.toBeInstanceOf(SessionUnauthorizedException);
  });

  it('denies a secured non-HTTP call', async () => {
    await expect(
      guard.canActivate(
        contextFor(
          route(undefined, () => true),
          request(),
          'rpc',
        ),
      ),
    ).resolves.toBe(false);
  });

  describe('security classes', () => {
    class AllowCheck implements SecurityCheck {
      check() {
        return { via: 'class' };
      }
    }

    it('takes a provided check from the container', async () => {
      moduleRef.introspect.mockReturnValue({ scope: Scope.DEFAULT });
      moduleRef.get.mockReturnValue(new AllowCheck());
      const req = request();
      await guard.canActivate(contextFor(route(undefined, AllowCheck), req));
      expect(moduleRef.get).toHaveBeenCalledWith(AllowCheck, { strict: false });
      expect(req[AUTH_DATA]).toEqual({ via: 'class' });
    });

    it('resolves a request-scoped check for the request', async () => {
      moduleRef.introspect.mockReturnValue({ scope: Scope.REQUEST });
      moduleRef.resolve.mockResolvedValue(new AllowCheck());
      await guard.canActivate(contextFor(route(undefined, AllowCheck), request()));
      expect(moduleRef.resolve).toHaveBeenCalledWith(AllowCheck, expect.anything(), { strict: false });
      expect(moduleRef.get).not.toHaveBeenCalled();
    });

    it('creates an unprovided check once and reuses it', async () => {
      moduleRef.create.mockResolvedValue(new AllowCheck());
      const target = route(undefined, AllowCheck);
      await guard.canActivate(contextFor(target, request()));
      await guard.canActivate(contextFor(target, request()));
      expect(moduleRef.create).toHaveBeenCalledTimes(1);
    });

    it('retries a creation that failed, and fails that request with a 500', async () => {
      moduleRef.create.mockRejectedValueOnce(new Error('missing dependency')).mockResolvedValue(new AllowCheck());
      const target = route(undefined, AllowCheck);
      await expect(guard.canActivate(contextFor(target, request()))).rejects.toBeInstanceOf(InternalServerErrorException);
      await expect(guard.canActivate(contextFor(target, request()))).resolves.toBe(true);
      expect(moduleRef.create).toHaveBeenCalledTimes(2);
    });
  });
});

describe('@Security', () => {
  it('refuses a class without check() and values that are not functions', () => {
    class NotACheck {}
    expect(() => Security(NotACheck as never)).toThrow(/a security class needs a check\(context\) method/);
    expect(() => Security(true as never)).toThrow(TypeError);
    expect(() => Security('admin' as never)).toThrow(TypeError);
  });
});

describe('deny() and redirectTo()', () => {
  it('default to 401 and 302', () => {
    expect(deny().getStatus()).toBe(401);
    expect(redirectTo('/x').getStatus()).toBe(302);
  });

  it('refuse statuses that are not denials or redirects', () => {
    for (const status of [200, 302, 600, 401.5, Number.NaN]) expect(() => deny({ status })).toThrow(TypeError);
    expect(() => redirectTo('/x', 200)).toThrow(TypeError);
  });

  it('refuse headers and URLs that would split the response', () => {
    expect(() => deny({ headers: { 'x-a': 'b\r\nSet-Cookie: x=1' } })).toThrow(TypeError);
    expect(() => deny({ headers: { 'bad name': 'v' } })).toThrow(TypeError);
    expect(() => redirectTo('/x\nLocation: evil')).toThrow(TypeError);
    expect(() => redirectTo('')).toThrow(TypeError);
  });

  it('refuse header values outside visible ASCII, space and tab, with the same clear TypeError', () => {
    const message = /^deny\(\): header x-note must be a string of visible ASCII characters/;
    expect(() => deny({ headers: { 'x-note': '→' } })).toThrow(message);
    expect(() => deny({ headers: { 'x-note': 'café' } })).toThrow(message);
    expect(() => deny({ headers: { 'x-note': 'a\u0000b' } })).toThrow(message);
    expect(() => deny({ headers: { 'x-note': 'a\u0085b' } })).toThrow(message);
    expect(() => deny({ headers: { 'x-note': 'a\r\nb' } })).toThrow(message);
    expect(deny({ headers: { 'x-note': 'tab\there ~ "quoted" !' } }).headers['x-note']).toBe('tab\there ~ "quoted" !');
  });

  it('percent-encode redirect URLs like encodeurl: non-ASCII and unsafe characters, keeping escapes and reserved ones', () => {
    expect(redirectTo('/login?next=/→').url).toBe('/login?next=/%E2%86%92');
    expect(redirectTo('/café').url).toBe('/caf%C3%A9');
    expect(redirectTo('https://example.com/a b?q=<x>&r="y"#frag`').url).toBe('https://example.com/a%20b?q=%3Cx%3E&r=%22y%22#frag%60');
    expect(redirectTo('/already%20encoded%E2%86%92?x=%zz&y=100%').url).toBe('/already%20encoded%E2%86%92?x=%25zz&y=100%25');
    expect(redirectTo("/keep/!$&'()*+,;=:@[]?/~_-.").url).toBe("/keep/!$&'()*+,;=:@[]?/~_-.");
    expect(redirectTo('/😀').url).toBe('/%F0%9F%98%80');
    expect(redirectTo('/lone\ud800').url).toBe('/lone%EF%BF%BD');
    // Encoding twice changes nothing, so a platform that encodes again (Express) agrees.
    const once = redirectTo('/x?next=/→ %41 %').url;
    expect(redirectTo(once).url).toBe(once);
  });

  it('are frozen', () => {
    const denial = deny({ headers: { a: 'b' } });
    expect(Object.isFrozen(denial)).toBe(true);
    expect(Object.isFrozen(denial.headers)).toBe(true);
  });
});

describe('collectSecurityParams', () => {
  it('merges query < body < path into a frozen object without a prototype', () => {
    const params = collectSecurityParams({
      query: { id: 'q', q: 1, shared: 'q' },
      body: { id: 'b', shared: 'b' },
      params: { id: 'p' },
    });
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(Object.isFrozen(params)).toBe(true);
    expect({ ...params }).toEqual({ id: 'p', q: 1, shared: 'b' });
  });

  it('drops prototype keys and ignores bodies that are not objects', () => {
    const body = JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{}},"prototype":1,"ok":1}');
    expect({ ...collectSecurityParams({ body }) }).toEqual({ ok: 1 });
    for (const odd of ['text', 42, null, [1, 2], Buffer.from('{"a":1}')]) {
      expect(Object.keys(collectSecurityParams({ body: odd }))).toEqual([]);
    }
    expect(({} as { admin?: boolean }).admin).toBeUndefined();
  });

  it('reads objects whose prototype has no prototype (Fastify form bodies)', () => {
    function Empty() {}
    Empty.prototype = Object.create(null);
    const body = new (Empty as unknown as new () => Record<string, unknown>)();
    body.user = 'u';
    expect({ ...collectSecurityParams({ body }) }).toEqual({ user: 'u' });
  });
});

describe('acceptsJson', () => {
  it.each([
    [{ accept: 'application/json' }, true],
    [{ accept: 'application/problem+json' }, true],
    [{ accept: 'application/json, text/plain, */*' }, true],
    [{ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }, false],
    [{ accept: 'text/html;q=0.5, application/json' }, true],
    [{ accept: 'application/json;q=0.1, text/html' }, false],
    [{ accept: '*/*' }, false],
    [{}, false],
    [{ 'content-type': 'application/json' }, true],
    [{ accept: '*/*', 'content-type': 'application/json; charset=utf-8' }, true],
  ])('%j -> %s', (headers, expected) => {
    expect(acceptsJson(headers)).toBe(expected);
  });
});
