import type { ExecutionContext } from '@nestjs/common';
import { graphqlHttpOf } from './graphql-context.js';
import type { HttpRequestLike, HttpResponseLike } from './http-adapter.js';

/** The HTTP request and response a Nest execution context stands for. */
export interface HttpPair {
  request: HttpRequestLike;
  /**
   * `undefined` only where a GraphQL context holds the request alone (Apollo on Fastify): the
   * module's middleware gave that request its session, with its reply, before the resolver ran.
   */
  response: HttpResponseLike | undefined;
}

/**
 * The HTTP request and response behind an execution context, whatever kind of context it is:
 * `undefined` when there is none (a microservice message, a WebSocket event). The decorators,
 * the guard and the interceptor all find the request here, so each kind of context is handled
 * in one place.
 */
export function httpPairOf(context: ExecutionContext): HttpPair | undefined {
  if (context.getType() === 'http') {
    const http = context.switchToHttp();
    return { request: http.getRequest<HttpRequestLike>(), response: http.getResponse<HttpResponseLike>() };
  }
  // A resolver's request and response are in its GraphQL context (see graphqlHttpOf).
  if (context.getType<string>() === 'graphql') return graphqlHttpOf(context);
  return undefined;
}
