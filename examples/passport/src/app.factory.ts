import { type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { expressSession, fastifySession } from '@novanest/session';
import passport from 'passport';
import { AppModule } from './app.module.js';
import { useFastifyPassport } from './fastify-passport.js';

/** The HTTP platforms the example runs on. */
export type Platform = 'express' | 'fastify';

/** The application with its session and Passport middleware, not yet listening. */
export async function createApp(platform: Platform, options: { logger?: false } = {}): Promise<INestApplication> {
  if (platform === 'fastify') {
    const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter(), options);
    await app.register(fastifySession(app)); // where @fastify/session was
    await useFastifyPassport(app);
    return app;
  }
  const app = await NestFactory.create(AppModule, options);
  app.use(expressSession(app)); // where app.use(session({ ... })) was
  app.use(passport.initialize());
  app.use(passport.session());
  return app;
}
