import type { ExecutionContext } from '@nestjs/common';
import type { HttpPair } from './execution-context.js';
import type { HttpRequestLike, HttpResponseLike } from './http-adapter.js';

type Candidate = Record<string, unknown>;

function isObject(value: unknown): value is Candidate {
  return typeof value === 'object' && value !== null;
}

function isRequest(value: unknown): value is HttpRequestLike {
  return isObject(value) && isObject(value.headers);
}

/** A Node `ServerResponse` (Express's `res`) or a Fastify reply (which wraps one in `raw`). */
function isResponse(value: unknown): value is HttpResponseLike {
  if (!isObject(value)) return false;
  if (isObject(value.raw)) return typeof value.raw.setHeader === 'function';
  return typeof value.setHeader === 'function';
}

/**
 * Finds the HTTP request and response in the context of a GraphQL resolver call, the third of
 * its arguments (`[root, args, context, info]`), without importing `@nestjs/graphql`. What the
 * drivers put there by default:
 *
 * - Apollo on Express (`@nestjs/apollo` with `@as-integrations/express5`): `{ req }`, Express's
 *   request, whose `req.res` is the response. A context of yours keeps working as long as it
 *   keeps `req` (Nest adds it when the object you return has none).
 * - Mercurius (`@nestjs/mercurius`): `{ req, reply, ... }`: the Fastify request and reply.
 * - Apollo on Fastify (`@as-integrations/fastify`): `{ req }`, the Fastify request.
 *
 * `{ req, res }` and `{ req, reply }` contexts of your own are read the same way. The response
 * is `undefined` when the context holds the request alone (Apollo on Fastify): the module's
 * middleware attached that request's session with its reply already, so the request is enough
 * to find it. Answers `undefined` when the context holds no HTTP request (a subscription over
 * WebSocket). Internal.
 */
export function graphqlHttpOf(context: ExecutionContext): HttpPair | undefined {
  const graphqlContext: unknown = context.getArgs()[2];
  if (!isObject(graphqlContext)) return undefined;
  const { req, res, reply } = graphqlContext;
  if (isResponse(reply)) {
    // A Fastify reply knows its request too.
    const request: unknown = isRequest(req) ? req : (reply as { request?: unknown }).request;
    if (isRequest(request)) return { request, response: reply };
  }
  if (!isRequest(req)) return undefined;
  if (isResponse(res)) return { request: req, response: res };
  // Express links its request to its response; Fastify's request has no such link.
  const linked = (req as { res?: unknown }).res;
  return { request: req, response: isResponse(linked) ? linked : undefined };
}
