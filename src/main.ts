import 'reflect-metadata';
import { type INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { trustProxyFromEnv } from './demo-config.js';

function portFromEnv(): number {
  const raw = process.env.PORT ?? '3000';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a number between 0 and 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

/** Express by default; PLATFORM=fastify runs the same app on Fastify. TRUST_PROXY applies to both. */
async function createApp(): Promise<INestApplication> {
  const platform = process.env.PLATFORM ?? 'express';
  const trustProxy = trustProxyFromEnv(process.env);
  if (platform === 'fastify') {
    // A hop count as a function: Fastify takes one, Nest's adapter options type does not list it.
    const fastifyTrust = typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy;
    return NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter({ trustProxy: fastifyTrust }));
  }
  if (platform !== 'express') throw new Error(`PLATFORM must be express or fastify, got ${platform}`);
  const app = await NestFactory.create<NestExpressApplication>(AppModule);
  app.set('trust proxy', trustProxy);
  return app;
}

async function bootstrap(): Promise<void> {
  const app = await createApp();
  app.enableShutdownHooks();
  await app.listen(portFromEnv(), process.env.HOST ?? '0.0.0.0');
  new Logger('Demo').log(`Listening on ${await app.getUrl()}`);
}

await bootstrap();
