import { HttpException, Injectable, InternalServerErrorException, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { SessionManager } from '../request/session.manager.js';
import { SECURITY_LOGGER_CONTEXT } from '../security/security.constants.js';
import { isSecurityCheckType } from '../security/security.decorator.js';
import { SecurityDeniedException, SessionUnauthorizedException } from '../security/security.exceptions.js';
import type { AuthDataObject, SecurityCheck, SecurityCheckType, SecurityContext, SecurityFn } from '../security/security.interface.js';
import { collectSecurityParams } from '../security/security-params.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';
import type { Session } from '../session/session.interface.js';
import { isPlainObject } from '../session/session-value.js';
import { bindHandshake, handshakeOf } from './socket-handshake.js';
import { refuseConnection } from './ws-denial.js';

/** What `WsSessionService.authorize` answers for a handshake its security function let in. */
export interface WsHandshake {
  /** The socket's session, as the store held it during the check. */
  readonly session: Session;
  /** The auth-data object the security function returned; `undefined` when it returned `true`. */
  readonly authData: AuthDataObject | undefined;
}

/**
 * Sessions for WebSocket gateways (`@nestjs/websockets`, socket.io or `ws` adapter). A socket
 * has the session its handshake request's cookie names; every `getSession(client)` is a fresh
 * handle on it, so each message sees the session as the store holds it now (a logout over HTTP
 * ends the socket's access at its next message). No response follows a message: save changes
 * with `await session.save()`; what is left unsaved is dropped. `regenerate()` throws
 * `WsSessionError` (it needs a new cookie); `destroy()` removes the record from the store.
 *
 * ```ts
 * @WebSocketGateway()
 * export class ChatGateway implements OnGatewayConnection {
 *   constructor(private readonly wsSessions: WsSessionService) {}
 *
 *   // `request` is Nest's second argument with the ws adapter; socket.io needs none.
 *   async handleConnection(client: Socket, request?: IncomingMessage) {
 *     const handshake = await this.wsSessions.authorize(client, sessionAuth, request);
 *     if (handshake === undefined) return; // denied: told, and disconnected
 *     client.emit('welcome', handshake.authData);
 *   }
 * }
 * ```
 */
@Injectable()
export class WsSessionService {
  protected readonly logger = new Logger(SECURITY_LOGGER_CONTEXT);

  constructor(
    protected readonly sessions: SessionManager,
    protected readonly moduleRef: ModuleRef,
  ) {}

  /**
   * Records the socket's handshake and answers its session. With the `ws` adapter, call it (or
   * `authorize`) in `handleConnection(client, request)` with the request Nest passes there: a
   * `ws` client does not keep it. A socket.io `Socket` keeps its own, so `request` is optional.
   */
  bind(client: object, request?: IncomingMessage): Session {
    return bindHandshake(this.sessions, client, request).newSession();
  }

  /**
   * A fresh handle on the socket's session, as the store holds it now. Throws `WsSessionError`
   * for a `ws` client whose handshake was never bound.
   */
  getSession(client: object): Session {
    return handshakeOf(client, this.sessions).newSession();
  }

  /**
   * Guards the handshake: runs `security` (a security function or an injectable `SecurityCheck`
   * class) with `{ request: the handshake request, session, params }`, where `params` are the
   * handshake URL's query merged with socket.io's `auth` payload. When it lets the socket in,
   * answers the session and the auth data. Otherwise the client receives the denial as an
   * `exception` message (`{ status: 'error', statusCode, message }`), is disconnected (`ws`:
   * close code 4000 + status, e.g. 4401), and the answer is `undefined`. A throwing security
   * function denies (500, logged): security fails closed.
   *
   * Messages can arrive while this runs: guard them too (`SessionAuthGuard` with `@Security` on
   * the gateway).
   */
  async authorize(client: object, security: SecurityFn | SecurityCheckType, request?: IncomingMessage): Promise<WsHandshake | undefined> {
    let session: Session | undefined;
    let denial: HttpException;
    try {
      const handshake = bindHandshake(this.sessions, client, request);
      session = handshake.newSession();
      const context: SecurityContext = { request: handshake.request, session, params: handshakeParams(client, handshake.request) };
      const result = await this.run(security, context);
      if (result === true) return { session, authData: undefined };
      if (isPlainObject(result) && result.authed !== false) return { session, authData: result };
      denial = result instanceof SecurityDeniedException ? result : new SessionUnauthorizedException();
    } catch (error) {
      denial = this.failure(error);
    }
    refuseConnection(client, denial);
    return undefined;
  }

  private async run(security: SecurityFn | SecurityCheckType, context: SecurityContext): Promise<unknown> {
    if (typeof security !== 'function') throw new TypeError('authorize() takes a security function or a SecurityCheck class');
    if (!isSecurityCheckType(security)) return security(context);
    return (await this.resolveCheck(security)).check(context);
  }

  /** A check class from the container, or created with its dependencies when no module has it. */
  private async resolveCheck(type: SecurityCheckType): Promise<SecurityCheck> {
    const ctor = type as unknown as new () => SecurityCheck;
    try {
      return this.moduleRef.get<SecurityCheck>(ctor, { strict: false });
    } catch {
      return this.moduleRef.create(ctor);
    }
  }

  /** What a throwing security function turns into: never a pass. */
  private failure(error: unknown): HttpException {
    if (error instanceof SecurityDeniedException || error instanceof SessionStoreUnavailableException) return error;
    if (error instanceof HttpException && error.getStatus() < 500) return error;
    const stack = error instanceof Error ? error.stack : undefined;
    this.logger.error(`Handshake security threw: ${error instanceof Error ? error.message : String(error)}`, stack);
    return new InternalServerErrorException('Security check failed', { cause: error });
  }
}

/** The handshake URL's query, merged with socket.io's `auth` payload (which wins). */
function handshakeParams(client: object, request: IncomingMessage): Readonly<Record<string, unknown>> {
  const query = Object.fromEntries(new URL(request.url ?? '/', 'http://socket').searchParams);
  const auth = (client as { handshake?: { auth?: unknown } }).handshake?.auth;
  return collectSecurityParams({ query, body: auth });
}
