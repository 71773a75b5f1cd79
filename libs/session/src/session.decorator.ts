import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { httpPairOf } from './request/execution-context.js';
import { findSession } from './request/session.manager.js';
import { MissingSessionError } from './session.exceptions.js';
import type { Session as SessionHandle } from './session/session.interface.js';
import { messageSessionOf } from './websocket/socket-handshake.js';

/**
 * Injects the request's session into a route handler: `@Session() session: Session`.
 * The handle is lazy: taking it costs nothing until a method is awaited. In a WebSocket
 * gateway's message handler it is the socket's session (changes need `await session.save()`).
 */
export const Session = createParamDecorator((_data: unknown, context: ExecutionContext): SessionHandle => {
  // A gateway message: a fresh handle on the socket's session (see WsSessionService).
  if (context.getType() === 'ws') return messageSessionOf(context);
  const request = httpPairOf(context)?.request;
  const session = request === undefined ? undefined : findSession(request);
  if (session === undefined) throw new MissingSessionError();
  return session;
});

/** The session handle's type; the same name as the decorator, as users write both together. */
export type Session = SessionHandle;
