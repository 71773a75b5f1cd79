import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

/**
 * The few request fields the module reads, present on both Express's `Request` and Fastify's
 * `FastifyRequest`. Keeping to them is what lets one code path serve both platforms.
 */
export interface HttpRequestLike {
  headers: IncomingHttpHeaders;
  /** `'https'` or `'http'`, as the platform sees it (trust-proxy settings applied). */
  protocol?: string;
  socket?: { encrypted?: boolean };
}

/** Express's response is a Node `ServerResponse`; Fastify's reply wraps one in `raw`. */
export type HttpResponseLike = ServerResponse | { raw: ServerResponse };

/** The Node response underneath either platform's response object. */
export function rawResponse(response: HttpResponseLike): ServerResponse {
  return 'raw' in response ? response.raw : response;
}

/** The request arrived over HTTPS as the platform sees it (Express `trust proxy`, Fastify `trustProxy`). */
export function isSecureRequest(request: HttpRequestLike): boolean {
  if (typeof request.protocol === 'string') return request.protocol === 'https';
  return request.socket?.encrypted === true;
}
