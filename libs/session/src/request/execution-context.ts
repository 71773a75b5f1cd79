import type { ExecutionContext } from '@nestjs/common';
import type { HttpRequestLike, HttpResponseLike } from './http-adapter.js';

/** The HTTP request and response a Nest execution context stands for. */
export interface HttpPair {
  request: HttpRequestLike;
  response: HttpResponseLike;
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
  return undefined;
}
