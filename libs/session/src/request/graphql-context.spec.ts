import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { ExecutionContext } from '@nestjs/common';
import { graphqlHttpOf } from './graphql-context.js';

/** A resolver call's context: `[root, args, context, info]`. */
function resolverCall(graphqlContext: unknown): ExecutionContext {
  return { getArgs: () => [undefined, {}, graphqlContext, {}], getType: () => 'graphql' } as unknown as ExecutionContext;
}

function nodePair(): { req: IncomingMessage; res: ServerResponse } {
  const req = new IncomingMessage(new Socket());
  const res = new ServerResponse(req);
  return { req, res };
}

describe('graphqlHttpOf', () => {
  it('Apollo on Express: { req }, whose req.res Express links', () => {
    const { req, res } = nodePair();
    Object.assign(req, { res });
    expect(graphqlHttpOf(resolverCall({ req }))).toEqual({ request: req, response: res });
  });

  it('a { req, res } context of your own', () => {
    const { req, res } = nodePair();
    expect(graphqlHttpOf(resolverCall({ req, res, user: 'x' }))).toEqual({ request: req, response: res });
  });

  it('Mercurius: { req, reply }; a reply alone gives its request', () => {
    const { req: raw, res } = nodePair();
    const request = { raw, headers: raw.headers };
    const reply = { raw: res, request };
    expect(graphqlHttpOf(resolverCall({ req: request, reply }))).toEqual({ request, response: reply });
    expect(graphqlHttpOf(resolverCall({ reply }))).toEqual({ request, response: reply });
  });

  it('Apollo on Fastify: { req } alone, no response', () => {
    const { req: raw } = nodePair();
    const request = { raw, headers: raw.headers };
    expect(graphqlHttpOf(resolverCall({ req: request }))).toEqual({ request, response: undefined });
  });

  it('no HTTP request (a subscription over WebSocket, no context): undefined', () => {
    expect(graphqlHttpOf(resolverCall(undefined))).toBeUndefined();
    expect(graphqlHttpOf(resolverCall({ connectionParams: {} }))).toBeUndefined();
    expect(graphqlHttpOf(resolverCall({ req: 'not a request' }))).toBeUndefined();
    expect(graphqlHttpOf(resolverCall({ req: { headers: null } }))).toBeUndefined();
  });
});
