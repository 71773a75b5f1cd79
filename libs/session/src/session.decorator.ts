import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { httpPairOf } from './request/execution-context.js';
import { findSession } from './request/session.manager.js';
import { MissingSessionError } from './session.exceptions.js';
import type { Session as SessionHandle } from './session/session.interface.js';

/**
 * Injects the request's session into a route handler: `@Session() session: Session`.
 * The handle is lazy: taking it costs nothing until a method is awaited.
 */
export const Session = createParamDecorator((_data: unknown, context: ExecutionContext): SessionHandle => {
  const request = httpPairOf(context)?.request;
  const session = request === undefined ? undefined : findSession(request);
  if (session === undefined) throw new MissingSessionError();
  return session;
});

/** The session handle's type; the same name as the decorator, as users write both together. */
export type Session = SessionHandle;
