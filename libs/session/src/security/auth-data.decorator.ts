import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { httpPairOf } from '../request/execution-context.js';
import { getAuthData } from './security-scope.js';
import { messageAuthDataOf } from '../websocket/socket-handshake.js';

/**
 * Injects the auth data that the route's security function returned:
 * `@AuthData() auth: { username: string }`, or one field of it: `@AuthData('username')`.
 * `undefined` when the route is public or its security returned `true`. In a GraphQL resolver
 * it is the auth data of that field's own `@Security`.
 */
export const AuthData = createParamDecorator((key: string | undefined, context: ExecutionContext): unknown => {
  // A gateway message: what the guard's security function returned for it.
  const authData = context.getType() === 'ws' ? messageAuthDataOf(context) : getAuthData(context, httpPairOf(context)?.request);
  if (authData === undefined || key === undefined) return authData;
  return Object.hasOwn(authData, key) ? authData[key] : undefined;
});
