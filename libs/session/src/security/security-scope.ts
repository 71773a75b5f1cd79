// What one security check covers: an HTTP route covers its request; a GraphQL resolver covers
// one field of a request that may ask for many, each with its own `@Security`. So in GraphQL
// the params are the field's arguments, and the auth data stays with the field (keyed by its
// resolve info, one object per field call): a public field never sees what a secured sibling's
// security returned. Internal.

import type { ExecutionContext } from '@nestjs/common';
import { AUTH_DATA } from './security.constants.js';
import type { AuthDataObject } from './security.interface.js';
import { type ParamSources, collectSecurityParams } from './security-params.js';

type RequestWithAuthData = { [AUTH_DATA]?: AuthDataObject };

/** Auth data of GraphQL field calls, by resolve info; gone with the call. */
const fieldAuthData = new WeakMap<object, AuthDataObject>();

/** The resolve info of a GraphQL resolver call (`[root, args, context, info]`), or `undefined`. */
function graphqlInfoOf(context: ExecutionContext): object | undefined {
  if (context.getType<string>() !== 'graphql') return undefined;
  const info: unknown = context.getArgs()[3];
  return typeof info === 'object' && info !== null ? info : undefined;
}

/** Nova's `params`: the route's query, body and path parameters, or a GraphQL field's arguments. */
export function securityParamsOf(context: ExecutionContext, request: ParamSources): Readonly<Record<string, unknown>> {
  if (context.getType<string>() === 'graphql') return collectSecurityParams({ params: context.getArgs()[1] });
  return collectSecurityParams(request);
}

/** Keeps the auth data a security function returned for `@AuthData()` of the same call. */
export function setAuthData(context: ExecutionContext, request: object, authData: AuthDataObject): void {
  const info = graphqlInfoOf(context);
  if (info !== undefined) fieldAuthData.set(info, authData);
  else (request as RequestWithAuthData)[AUTH_DATA] = authData;
}

/** The auth data the security of this call returned, or `undefined`. */
export function getAuthData(context: ExecutionContext, request: object | undefined): AuthDataObject | undefined {
  if (context.getType<string>() === 'graphql') {
    const info = graphqlInfoOf(context);
    return info === undefined ? undefined : fieldAuthData.get(info);
  }
  return request === undefined ? undefined : (request as RequestWithAuthData)[AUTH_DATA];
}
