import type { ExecutionContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { IncomingSession } from '../persistence/session-persistence.js';
import { SealedCookiePersistence } from '../persistence/sealed-cookie.persistence.js';
import type { SessionManager } from '../request/session.manager.js';
import { checkHandshakeOrigin } from '../security/csrf-origin.js';
import { SessionCsrfException } from '../security/csrf.exceptions.js';
import { SessionsDisabledError } from '../session.exceptions.js';
import { SessionHandle } from '../session/session.handle.js';
import type { Session } from '../session/session.interface.js';
import type { AuthDataObject } from '../security/security.interface.js';
import { socketIoRequestOf } from './socket-client.js';
import { SocketSession } from './socket-session.js';
import { WsSessionError } from './ws-session.exceptions.js';

/**
 * What every session of one socket is built from: the application's session manager and the
 * handshake request, whose cookie is decoded once (id checked, signature verified, or sealed
 * cookie opened) by the manager's own persistence. Internal.
 */
export class SocketHandshake {
  private readonly incoming: IncomingSession | undefined;
  /** Set when another site's page opened the socket: it gets no session at all. */
  private readonly refusal: SessionCsrfException | undefined;

  constructor(
    private readonly manager: SessionManager,
    /** The handshake's HTTP request: socket.io's `client.request`, or `ws`'s second `handleConnection` argument. */
    readonly request: IncomingMessage,
  ) {
    const crossOrigin = checkHandshakeOrigin(request.headers, manager.options.csrf);
    this.refusal = crossOrigin === undefined ? undefined : new SessionCsrfException('cross-origin', crossOrigin.detail);
    this.incoming = manager.options.enabled && this.refusal === undefined ? manager.readIncoming({ headers: request.headers }) : undefined;
  }

  /**
   * A new handle on the session the handshake cookie names, as the store holds it now. Throws
   * `SessionCsrfException` (403) for a socket another site's page opened (see
   * `checkSocketOrigin`), so its handshake check and every guarded message are denied.
   */
  newSession(): Session {
    if (this.refusal !== undefined) throw this.refusal;
    if (!this.manager.options.enabled) throw new SessionsDisabledError();
    // No response follows, so the handle never reads the connection's security for a cookie.
    const handle = new SessionHandle(this.manager, this.incoming, () => false);
    return new SocketSession(handle, this.manager.persistence instanceof SealedCookiePersistence);
  }
}

/** Each socket's handshake, keyed by the client object (socket.io `Socket` or `ws` `WebSocket`). */
const handshakes = new WeakMap<object, SocketHandshake>();
/**
 * The session and auth data of one message. Nest hands the guard and each parameter decorator
 * their own copy of the message's arguments, so a message is known by what those copies share:
 * its body when the body is an object, else socket.io's acknowledgement callback (one per
 * message). A message with neither (a bare string body, say) is known by its client, event and
 * body: its auth data is found only by a handler of the same event with the same body, and it
 * gets a fresh session handle at each use.
 */
const messageSessions = new WeakMap<object, Session>();
const messageAuthData = new WeakMap<object, AuthDataObject>();
const latestAuthData = new WeakMap<object, { pattern: unknown; data: unknown; authData: AuthDataObject }>();

/** The object that stands for this message, or `undefined` when only its client does. */
function messageKey(context: ExecutionContext): object | undefined {
  const data: unknown = context.switchToWs().getData();
  if ((typeof data === 'object' && data !== null) || typeof data === 'function') return data;
  const ack: unknown = context.getArgs().find((arg: unknown) => typeof arg === 'function');
  return typeof ack === 'function' ? ack : undefined;
}

function asKey(client: unknown): object {
  if ((typeof client !== 'object' && typeof client !== 'function') || client === null) {
    throw new TypeError('expected a socket.io Socket or a ws WebSocket client');
  }
  return client;
}

/**
 * Records the handshake of `client`. A `ws` client needs `request` (Nest passes it to
 * `handleConnection` as the second argument); a socket.io `Socket` carries its own. Idempotent:
 * the first record of a client stays. Internal.
 */
export function bindHandshake(manager: SessionManager, client: unknown, request?: IncomingMessage): SocketHandshake {
  const key = asKey(client);
  const known = handshakes.get(key);
  if (known !== undefined) return known;
  const handshakeRequest = request ?? socketIoRequestOf(client);
  if (handshakeRequest === undefined) {
    throw new WsSessionError(
      'the handshake request of this ws client is unknown: call wsSessions.bind(client, request) (or authorize) in ' +
        'handleConnection(client, request), passing the request Nest gives as its second argument',
    );
  }
  const handshake = new SocketHandshake(manager, handshakeRequest);
  handshakes.set(key, handshake);
  return handshake;
}

/**
 * The recorded handshake of `client`; with a manager, a socket.io client's is recorded on the
 * way. Throws `WsSessionError` for a `ws` client nobody bound. Internal.
 */
export function handshakeOf(client: unknown, manager?: SessionManager): SocketHandshake {
  const known = handshakes.get(asKey(client));
  if (known !== undefined) return known;
  if (manager !== undefined) return bindHandshake(manager, client);
  throw new WsSessionError(
    'no session is known for this socket: import SessionModule.forRoot() in the application module, and with the ws ' +
      'adapter call wsSessions.bind(client, request) in handleConnection(client, request)',
  );
}

/**
 * The session of the message `context` stands for, built on first use: one handle per message,
 * shared by the guard and the handler's `@Session()` parameters when the message is known by its
 * body or acknowledgement (see `messageKey`), else a fresh handle per use. Internal.
 */
export function messageSessionOf(context: ExecutionContext, manager?: SessionManager): Session {
  const key = messageKey(context);
  let session = key === undefined ? undefined : messageSessions.get(key);
  if (session === undefined) {
    session = handshakeOf(context.switchToWs().getClient(), manager).newSession();
    if (key !== undefined) messageSessions.set(key, session);
  }
  return session;
}

/** Keeps the auth data a gateway's security function returned for this message. Internal. */
export function setMessageAuthData(context: ExecutionContext, authData: AuthDataObject | undefined): void {
  const ws = context.switchToWs();
  const key = messageKey(context) ?? asKey(ws.getClient());
  if (authData === undefined) {
    messageAuthData.delete(key);
    latestAuthData.delete(key);
  } else if (key === ws.getClient()) {
    latestAuthData.set(key, { pattern: ws.getPattern(), data: ws.getData(), authData });
  } else {
    messageAuthData.set(key, authData);
  }
}

/** The auth data of this message, if its security function returned any. Internal. */
export function messageAuthDataOf(context: ExecutionContext): AuthDataObject | undefined {
  const ws = context.switchToWs();
  const key = messageKey(context);
  if (key !== undefined) return messageAuthData.get(key);
  const latest = latestAuthData.get(asKey(ws.getClient()));
  const same = latest !== undefined && latest.pattern === ws.getPattern() && Object.is(latest.data, ws.getData());
  return same ? latest.authData : undefined;
}

/**
 * Records a socket.io client's handshake (it carries its request) unless already known; leaves
 * `ws` clients alone (their request is only seen by `handleConnection`). Internal.
 */
export function rememberSocketIoHandshake(manager: SessionManager, client: unknown): void {
  if (typeof client !== 'object' || client === null || handshakes.has(client)) return;
  if (socketIoRequestOf(client) !== undefined) bindHandshake(manager, client);
}
