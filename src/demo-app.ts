import { type INestApplication, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { trustProxyFromEnv } from './demo-config.js';

/** What `createDemoApp` reads of the environment (AppModule reads NODE_ENV and SESSION_* itself). */
export interface DemoAppEnvironment {
  PLATFORM?: string;
  TRUST_PROXY?: string;
}

/**
 * The demo app, not yet listening: Express by default, `PLATFORM=fastify` for Fastify, with
 * trust proxy from TRUST_PROXY on either.
 */
export async function createDemoApp(env: DemoAppEnvironment, options: { logger?: false | LogLevel[] } = {}): Promise<INestApplication> {
  const platform = env.PLATFORM ?? 'express';
  const trustProxy = trustProxyFromEnv(env);
  const appOptions = options.logger === undefined ? {} : { logger: options.logger };
  if (platform === 'fastify') {
    // A hop count as a function: Fastify takes one, Nest's adapter options type does not list it.
    const fastifyTrust = typeof trustProxy === 'number' ? (_address: string, hop: number) => hop < trustProxy : trustProxy;
    return NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter({ trustProxy: fastifyTrust }), appOptions);
  }
  if (platform !== 'express') throw new Error(`PLATFORM must be express or fastify, got ${platform}`);
  const app = await NestFactory.create<NestExpressApplication>(AppModule, appOptions);
  app.set('trust proxy', trustProxy);
  return app;
}
