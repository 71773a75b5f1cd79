import 'reflect-metadata';
import { type INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule, type Platform } from './app.module.js';

function portFromEnv(): number {
  const raw = process.env.PORT ?? '3000';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a number between 0 and 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

function platformFromEnv(): Platform {
  const platform = process.env.PLATFORM ?? 'express';
  if (platform !== 'express' && platform !== 'fastify') {
    throw new Error(`PLATFORM must be express (Apollo) or fastify (Mercurius), got ${JSON.stringify(platform)}`);
  }
  return platform;
}

/** Express with Apollo by default; PLATFORM=fastify serves the same schema with Mercurius. */
async function createApp(platform: Platform): Promise<INestApplication> {
  const module = AppModule.forPlatform(platform);
  if (platform === 'fastify') return NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter());
  return NestFactory.create(module);
}

async function bootstrap(): Promise<void> {
  const platform = platformFromEnv();
  const app = await createApp(platform);
  app.enableShutdownHooks();
  await app.listen(portFromEnv(), process.env.HOST ?? '0.0.0.0');
  new Logger('GraphQLExample').log(`GraphQL (${platform}) on ${await app.getUrl()}/graphql`);
}

await bootstrap();
