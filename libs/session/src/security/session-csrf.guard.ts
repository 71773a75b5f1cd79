import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { httpPairOf } from '../request/execution-context.js';
import { SessionManager, isLiveSession } from '../request/session.manager.js';
import { SessionsDisabledError } from '../session.exceptions.js';
import type { SessionHandle } from '../session/session.handle.js';
import { type OriginCheckedRequest, checkOrigin } from './csrf-origin.js';
import { csrfTokenMatches } from './csrf-token.js';
import { SessionCsrfException } from './csrf.exceptions.js';
import { SKIP_CSRF_METADATA } from './skip-csrf.decorator.js';

/** Methods that must not change anything, so a forged one gains nothing: never checked. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Header a JSON client (or a script) sends the token in. */
export const CSRF_HEADER = 'x-csrf-token';
/** Form field (urlencoded or JSON body) a form sends the token in. */
export const CSRF_FIELD = '_csrf';

interface CheckedRequest extends OriginCheckedRequest {
  method?: string;
  body?: unknown;
}

/**
 * CSRF protection tied to the session (a synchronizer token, as Phoenix's
 * `protect_from_forgery`). Each session has a secret, made at the first
 * `SessionService.csrfToken(req)` (anonymous sessions too, so the login form is covered); a page
 * puts the token it answers in its forms (field `_csrf`) or a script sends it in the
 * `x-csrf-token` header. Every POST, PUT, PATCH, DELETE (any method but GET, HEAD and OPTIONS)
 * must carry a token of the request's session; tokens are masked afresh on each call (against
 * BREACH) and any of them is accepted until the secret changes: at `regenerate()` (login),
 * `clear()` and `destroy()`.
 *
 * Besides the token, a request from another origin is refused even with a valid token: its
 * `Origin` is not the request's own (scheme, host and port, as the platform sees them: trust
 * proxy matters) nor one of the `csrf.trustedOrigins` of `SessionModule`, or its browser marks
 * it `Sec-Fetch-Site: cross-site`. A request with neither header (not a browser) is decided by
 * the token alone, unless `csrf.requireOrigin` is set.
 *
 * A refused request is a 403 `SessionCsrfException` whose message says what is missing or
 * wrong; the handler does not run and the request's session changes are dropped. `@SkipCsrf()`
 * exempts a route or a controller. Only HTTP requests (GraphQL over HTTP included) are checked;
 * a WebSocket message or a microservice call passes.
 *
 * Run it before `SessionAuthGuard`, so a forged login is refused before its credentials are
 * checked: `@UseGuards(SessionCsrfGuard, SessionAuthGuard)`, or as the first `APP_GUARD`:
 * ```ts
 * @Module({
 *   imports: [SessionModule.forRoot()],
 *   providers: [
 *     { provide: APP_GUARD, useClass: SessionCsrfGuard },
 *     { provide: APP_GUARD, useClass: SessionAuthGuard },
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
@Injectable()
export class SessionCsrfGuard implements CanActivate {
  constructor(
    protected readonly reflector: Reflector,
    protected readonly sessions: SessionManager,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = httpPairOf(context);
    if (http === undefined) return true;
    const request = http.request as CheckedRequest;
    if (SAFE_METHODS.has((request.method ?? 'GET').toUpperCase())) return true;
    if (this.isSkipped(context)) return true;

    // The session the module's middleware attached (the same handle every other part gets).
    const session = this.sessions.attach(request, http.response);
    if (!isLiveSession(session)) throw new SessionsDisabledError();
    const refusal = await this.check(request, session);
    if (refusal === undefined) return true;
    // As for any denial: nothing the request staged so far is committed, and no cookie for it.
    session.discard();
    throw refusal;
  }

  /** Whether `@SkipCsrf()` exempts the route (the handler's setting overrides its class's). */
  protected isSkipped(context: ExecutionContext): boolean {
    return this.reflector.getAllAndOverride(SKIP_CSRF_METADATA, [context.getHandler(), context.getClass()]) === true;
  }

  /**
   * The token the request carries: the `x-csrf-token` header, else the `_csrf` field of a
   * parsed body (urlencoded form or JSON). Never the query string: URLs end up in logs.
   */
  protected tokenOf(request: CheckedRequest): string | undefined {
    const header = request.headers[CSRF_HEADER];
    if (typeof header === 'string' && header !== '') return header;
    const body = request.body;
    if (typeof body !== 'object' || body === null || !Object.hasOwn(body, CSRF_FIELD)) return undefined;
    const field = (body as Record<string, unknown>)[CSRF_FIELD];
    return typeof field === 'string' && field !== '' ? field : undefined;
  }

  private async check(request: CheckedRequest, session: SessionHandle): Promise<SessionCsrfException | undefined> {
    const origin = checkOrigin(request, this.sessions.options.csrf);
    if (origin !== undefined) return new SessionCsrfException(origin.reason, origin.detail);
    const token = this.tokenOf(request);
    if (token === undefined) return new SessionCsrfException('missing');
    // A session without a secret has issued no token: whatever came cannot be one of its own.
    const secret = await session.csrfSecret();
    if (secret === undefined || !csrfTokenMatches(token, secret)) return new SessionCsrfException('invalid');
    return undefined;
  }
}
