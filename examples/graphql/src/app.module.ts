import { type DynamicModule, Module } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { SessionModule } from '@novanest/session';
import { AccountResolver } from './account.resolver.js';
import { PasswordLogin } from './security.js';
import { UsersService } from './users.service.js';

/** The HTTP platform the example runs on: Apollo on Express, or Mercurius on Fastify. */
export type Platform = 'express' | 'fastify';

/**
 * The GraphQL server for the platform. Neither needs a `context` option for sessions: the
 * library finds the request (and its response) in the context each driver builds by default.
 */
function graphqlFor(platform: Platform): DynamicModule {
  if (platform === 'fastify') {
    return GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true });
  }
  // Apollo adds a stack trace to every error outside production; the example keeps errors short.
  return GraphQLModule.forRoot<ApolloDriverConfig>({
    driver: ApolloDriver,
    autoSchemaFile: true,
    includeStacktraceInErrorResponses: false,
  });
}

@Module({})
export class AppModule {
  /** The application module for `platform`: sessions (in memory) and the GraphQL API. */
  static forPlatform(platform: Platform): DynamicModule {
    return {
      module: AppModule,
      imports: [SessionModule.forRoot(undefined, { cookie: { secure: 'auto' } }), graphqlFor(platform)],
      providers: [UsersService, PasswordLogin, AccountResolver],
    };
  }
}
