import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { SESSION_HANDLE } from './session.constants.js';
import { MissingSessionError } from './session.exceptions.js';
import type { Session as SessionHandle } from './session/session.interface.js';

/**
 * Injects the request's session into a route handler: `@Session() session: Session`.
 * The handle is lazy: taking it costs nothing until a method is awaited.
 */
export const Session = createParamDecorator((_data: unknown, context: ExecutionContext): SessionHandle => {
  const request = context.switchToHttp().getRequest<{ [SESSION_HANDLE]?: SessionHandle }>();
  const session = request[SESSION_HANDLE];
  if (session === undefined) throw new MissingSessionError();
  return session;
});

/** The session handle's type; the same name as the decorator, as users write both together. */
export type Session = SessionHandle;
