import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { httpPairOf } from '../request/execution-context.js';
import { AUTH_DATA } from './security.constants.js';
import type { AuthDataObject } from './security.interface.js';
import { messageAuthDataOf } from '../websocket/socket-handshake.js';

/**
 * Injects the auth data that the route's security function returned:
 * `@AuthData() auth: { username: string }`, or one field of it: `@AuthData('username')`.
 * `undefined` when the route is public or its security returned `true`.
 */
export const AuthData = createParamDecorator((key: string | undefined, context: ExecutionContext): unknown => {
  const request = httpPairOf(context)?.request as { [AUTH_DATA]?: AuthDataObject } | undefined;
  // A gateway message: what the guard's security function returned for it.
  const authData = context.getType() === 'ws' ? messageAuthDataOf(context) : request?.[AUTH_DATA];
  if (authData === undefined || key === undefined) return authData;
  return Object.hasOwn(authData, key) ? authData[key] : undefined;
});
