/**
 * `SessionCsrfGuard` on GraphQL over HTTP: a mutation POSTed without the session's token (in
 * the `x-csrf-token` header) is refused as the field's error and commits nothing; with it, it
 * runs. Apollo on Express, Mercurius on Fastify.
 */
import { Controller, type DynamicModule, Get, type INestApplication, Module, Req, type Type, UseGuards } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { Session, SessionCsrfGuard, SessionModule, SessionService } from '@novanest/session';
import request from 'supertest';
import { setCookieFor } from './support/cookies.js';
import { type Platform, startApp } from './support/platforms.js';

@Resolver()
@UseGuards(SessionCsrfGuard)
class CounterResolver {
  @Query(() => Int)
  async counter(@Session() session: Session) {
    return (await session.get<number>('counter')) ?? 0;
  }

  @Mutation(() => Int)
  async increment(@Session() session: Session) {
    const counter = ((await session.get<number>('counter')) ?? 0) + 1;
    await session.set('counter', counter);
    return counter;
  }
}

@Controller()
class TokenController {
  constructor(private readonly sessions: SessionService) {}

  @Get('csrf-token')
  async token(@Req() req: object) {
    return { token: await this.sessions.csrfToken(req) };
  }
}

type Server = { name: string; platform: Platform; driver: 'apollo' | 'mercurius' };
const SERVERS: Server[] = [
  { name: 'Apollo on Express', platform: 'express', driver: 'apollo' },
  { name: 'Mercurius on Fastify', platform: 'fastify', driver: 'mercurius' },
];

function graphqlModule({ driver }: Server): DynamicModule {
  return driver === 'apollo'
    ? GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true })
    : GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true });
}

function appModule(server: Server): Type<unknown> {
  @Module({ imports: [SessionModule.forRoot(), graphqlModule(server)], controllers: [TokenController], providers: [CounterResolver] })
  class CsrfGraphQLModule {}
  return CsrfGraphQLModule;
}

describe.each(SERVERS)('SessionCsrfGuard on GraphQL: $name', (server) => {
  let app: INestApplication;

  beforeAll(async () => {
    app = await startApp(server.platform, appModule(server));
  });
  afterAll(async () => {
    await app.close();
  });

  it('a mutation without the token is refused and commits nothing; with the header it runs', async () => {
    const browser = request.agent(app.getHttpServer());
    const { token } = (await browser.get('/csrf-token')).body as { token: string };
    const refused = await browser.post('/graphql').send({ query: 'mutation { increment }' });
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors[0].message).toMatch(/^CSRF token missing/);
    expect(setCookieFor(refused)).toBeUndefined();
    const passed = await browser.post('/graphql').set('x-csrf-token', token).send({ query: 'mutation { increment }' });
    expect(passed.body).toEqual({ data: { increment: 1 } });
    const read = await browser.post('/graphql').set('x-csrf-token', token).send({ query: '{ counter }' });
    expect(read.body).toEqual({ data: { counter: 1 } });
  });

  it('a GraphQL GET query is a safe method and needs no token', async () => {
    const response = await request(app.getHttpServer())
      .get('/graphql')
      .query({ query: '{ counter }' })
      .set('apollo-require-preflight', 'true');
    expect(response.body).toEqual({ data: { counter: 0 } });
  });
});
