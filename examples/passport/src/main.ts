import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp, type Platform } from './app.factory.js';

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
  if (platform !== 'express' && platform !== 'fastify') throw new Error(`PLATFORM must be express or fastify, got ${platform}`);
  return platform;
}

const app = await createApp(platformFromEnv());
app.enableShutdownHooks();
await app.listen(portFromEnv(), process.env.HOST ?? '0.0.0.0');
new Logger('PassportExample').log(`Listening on ${await app.getUrl()}`);
