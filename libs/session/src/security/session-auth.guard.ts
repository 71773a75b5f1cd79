import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  Injectable,
  InternalServerErrorException,
  Logger,
  Scope,
} from '@nestjs/common';
import { ContextIdFactory, ModuleRef, Reflector } from '@nestjs/core';
import { httpPairOf } from '../request/execution-context.js';
import type { HttpRequestLike } from '../request/http-adapter.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';
import type { Session } from '../session/session.interface.js';
import { SessionManager, isLiveSession } from '../request/session.manager.js';
import { SECURITY_LOGGER_CONTEXT } from './security.constants.js';
import { SECURITY_METADATA, isSecurityCheckType } from './security.decorator.js';
import { SecurityDeniedException, SessionUnauthorizedException } from './security.exceptions.js';
import type { AuthDataObject, SecurityCheck, SecurityCheckType, SecurityContext, SecuritySetting } from './security.interface.js';
import { isPlainObject } from '../session/session-value.js';
import { type ParamSources, collectSecurityParams } from './security-params.js';
import { securityParamsOf, setAuthData } from './security-scope.js';
import { handshakeOf, messageSessionOf, setMessageAuthData } from '../websocket/socket-handshake.js';
import { toWsException } from '../websocket/ws-denial.js';

type GuardedRequest = HttpRequestLike & ParamSources;

/** The verdict of a security function, once interpreted. */
type Verdict = { pass: true; authData: AuthDataObject | undefined } | { pass: false; denial: HttpException };

/**
 * Nova's route security (`security => fun`) as a Nest guard. It reads `@Security(...)` from the
 * route handler, or else from its controller, runs that security function or `SecurityCheck`
 * with `{ request, session, params }`, and lets the request through on `true` or an auth-data
 * object (read it with `@AuthData()`). Otherwise the handler does not run, the request's session
 * changes are dropped (no cookie is sent for them) and the guard throws:
 * `SessionUnauthorizedException` (401) for `false`, and the `SecurityDeniedException` that
 * `deny(...)` or `redirectTo(...)` made (returned or thrown: the same). A security function that throws gives
 * a 500 and an error log line, never a pass; an `HttpException` it throws on purpose (4xx, or
 * the 503 of an unavailable store) keeps its status.
 *
 * Auth data carrying `authed: false` (the boolean) denies like `false`, with a warning logged
 * once per route: `return { authed: !!user, user }` must not let a stranger in.
 *
 * Routes without `@Security` (and `@Security(false)` routes) are public: the guard passes them
 * without touching the session. A route that has no `@Security` at all (on the handler or its
 * controller) also gets one warning, the first time the guard runs on it, saying so; mark
 * deliberately public routes `@Security(false)` to keep the log quiet.
 *
 * Per controller:
 * ```ts
 * @Controller()
 * @UseGuards(SessionAuthGuard)
 * @Security(sessionAuth)          // every route of the controller...
 * export class AccountController {
 *   @Get('public') @Security(false) open() {}   // ...but this one
 * }
 * ```
 * For the whole application, register it as a global guard in the module that imports
 * `SessionModule` (then `@Security` alone secures a route):
 * ```ts
 * @Module({
 *   imports: [SessionModule.forRoot()],
 *   providers: [{ provide: APP_GUARD, useClass: SessionAuthGuard }],
 * })
 * export class AppModule {}
 * ```
 */
@Injectable()
export class SessionAuthGuard implements CanActivate {
  protected readonly logger = new Logger(SECURITY_LOGGER_CONTEXT);
  /** Check classes no module provides, created once each in the guard's module. */
  private readonly created = new Map<SecurityCheckType, Promise<SecurityCheck>>();
  /** Handlers already warned about (per warning), so each is logged once per route, not per request. */
  private readonly warnedUnmarked = new WeakSet<object>();
  private readonly warnedAuthedFalse = new WeakSet<object>();

  constructor(
    protected readonly reflector: Reflector,
    protected readonly moduleRef: ModuleRef,
    protected readonly sessions: SessionManager,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const setting = this.getSecurity(context);
    if (setting === undefined) {
      this.warnOnce(
        this.warnedUnmarked,
        context,
        `${this.routeName(context)} has no @Security, so SessionAuthGuard lets every request through: the ` +
          'route is public. Mark it @Security(false) to make that explicit, or give it a security function.',
      );
      return true;
    }
    if (setting === false) return true;
    if (context.getType() === 'ws') return this.canActivateMessage(setting, context);
    const http = httpPairOf(context);
    if (http === undefined) {
      this.logger.warn(
        `${this.routeName(context)}: @Security needs an HTTP request (a route, a GraphQL query or mutation) or a ` +
          `WebSocket message, and this ${context.getType()} call has none (a GraphQL subscription, a microservice ` +
          'message): denied.',
      );
      return false;
    }
    const request = http.request as GuardedRequest;
    const session = this.sessions.attach(request, http.response);
    const securityContext: SecurityContext = {
      request,
      session,
      params: securityParamsOf(context, request),
    };

    let verdict: Verdict;
    try {
      verdict = this.interpret(await this.runSecurity(setting, securityContext, request), context);
    } catch (error) {
      verdict = { pass: false, denial: this.failure(error, context) };
    }
    if (!verdict.pass) {
      this.onDenied(session, verdict.denial, context);
      throw verdict.denial;
    }
    if (verdict.authData !== undefined) setAuthData(context, request, verdict.authData);
    return true;
  }

  /**
   * A WebSocket gateway's message: the security function gets the handshake request, a fresh
   * handle on the socket's session and the message body as `params`. A denial is thrown as a
   * `WsException` carrying `{ status: 'error', statusCode, message }`, which Nest sends to the
   * client as an `exception` message; the handler does not run.
   */
  protected async canActivateMessage(setting: Exclude<SecuritySetting, false>, context: ExecutionContext): Promise<boolean> {
    let verdict: Verdict;
    try {
      const session = messageSessionOf(context, this.sessions);
      const request = handshakeOf(context.switchToWs().getClient()).request as GuardedRequest;
      const params = collectSecurityParams({ body: context.switchToWs().getData() });
      verdict = this.interpret(await this.runSecurity(setting, { request, session, params }, request), context);
    } catch (error) {
      verdict = { pass: false, denial: this.failure(error, context) };
    }
    if (!verdict.pass) throw await toWsException(verdict.denial);
    setMessageAuthData(context, verdict.authData);
    return true;
  }

  /** The route's setting: the handler's `@Security`, else its controller's. */
  protected getSecurity(context: ExecutionContext): SecuritySetting | undefined {
    return this.reflector.getAllAndOverride(SECURITY_METADATA, [context.getHandler(), context.getClass()]);
  }

  /**
   * Called before a denial is thrown. Drops what the request staged in its session, so nothing
   * half-done is committed and no cookie goes out for it.
   */
  protected onDenied(session: Session, _denial: HttpException, _context: ExecutionContext): void {
    if (isLiveSession(session)) session.discard();
  }

  private async runSecurity(setting: Exclude<SecuritySetting, false>, context: SecurityContext, request: GuardedRequest): Promise<unknown> {
    if (isSecurityCheckType(setting)) {
      const check = await this.resolveCheck(setting, request);
      return check.check(context);
    }
    return setting(context);
  }

  /** A check class from the container, or created (with its dependencies) when no module has it. */
  private async resolveCheck(type: SecurityCheckType, request: GuardedRequest): Promise<SecurityCheck> {
    const scope = this.scopeOf(type);
    if (scope === Scope.DEFAULT) return this.moduleRef.get<SecurityCheck>(type, { strict: false });
    if (scope !== undefined) {
      const contextId = ContextIdFactory.getByRequest(request);
      return this.moduleRef.resolve<SecurityCheck>(type, contextId, { strict: false });
    }
    let instance = this.created.get(type);
    if (instance === undefined) {
      instance = this.moduleRef.create(type as unknown as new () => SecurityCheck);
      this.created.set(type, instance);
      // A failed creation is retried on the next request rather than cached.
      instance.catch(() => this.created.delete(type));
    }
    return instance;
  }

  /** The provider's scope, or `undefined` when no module provides the class. */
  private scopeOf(type: SecurityCheckType): Scope | undefined {
    try {
      return this.moduleRef.introspect(type as unknown as new () => SecurityCheck).scope;
    } catch {
      return undefined;
    }
  }

  /** Maps a result to pass or deny. Anything unexpected denies: security code fails closed. */
  private interpret(result: unknown, context: ExecutionContext): Verdict {
    if (result === true) return { pass: true, authData: undefined };
    if (result === false) return { pass: false, denial: new SessionUnauthorizedException() };
    // deny() and redirectTo() answer the exception itself: it is thrown as it is.
    if (result instanceof SecurityDeniedException) return { pass: false, denial: result };
    if (isPlainObject(result)) {
      // `{ authed: !!user, user }` reads as a denial when nobody is logged in: honour that.
      if (result.authed === false) {
        this.warnOnce(
          this.warnedAuthedFalse,
          context,
          `Security of ${this.routeName(context)} returned an object with authed: false; denying the request ` +
            '(401) as for false. Return false to deny, or an object without authed: false to pass. ' +
            '(Logged once per route.)',
        );
        return { pass: false, denial: new SessionUnauthorizedException() };
      }
      return { pass: true, authData: result };
    }
    this.logger.warn(
      `Security of ${this.routeName(context)} returned ${this.describe(result)}, not true, false, an ` +
        'auth-data object, deny() or redirectTo(); denying the request',
    );
    return { pass: false, denial: new SessionUnauthorizedException() };
  }

  /** What a throwing security function turns into. Never a pass. */
  private failure(error: unknown, context: ExecutionContext): HttpException {
    // Already logged by the session handle; the client gets the 503 and retries.
    if (error instanceof SessionStoreUnavailableException) return error;
    // deny() or redirectTo() thrown rather than returned: the same denial, not a failure.
    if (error instanceof SecurityDeniedException) return error;
    if (error instanceof HttpException && error.getStatus() >= 400) {
      if (error.getStatus() >= 500) this.logError(error, context);
      return error;
    }
    this.logError(error, context);
    return new InternalServerErrorException('Security check failed', { cause: error });
  }

  private logError(error: unknown, context: ExecutionContext): void {
    const stack = error instanceof Error ? error.stack : undefined;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.error(`Security of ${this.routeName(context)} threw: ${reason}`, stack);
  }

  /** Logs `message` the first time it concerns this route handler, never again for it. */
  private warnOnce(warned: WeakSet<object>, context: ExecutionContext, message: string): void {
    const handler = context.getHandler();
    if (warned.has(handler)) return;
    warned.add(handler);
    this.logger.warn(message);
  }

  private routeName(context: ExecutionContext): string {
    return `${context.getClass().name}.${context.getHandler().name}`;
  }

  private describe(value: unknown): string {
    if (value === null) return 'null';
    if (Array.isArray(value)) return 'an array';
    if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'an unknown class'}`;
    return typeof value;
  }
}
