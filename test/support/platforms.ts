import type { INestApplication, Type } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

/** The two HTTP platforms every e2e suite runs on. */
export const PLATFORMS = ['express', 'fastify'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** Boots `module` on `platform`, listening on a free loopback port, as a user's app would run. */
export async function startApp(
  platform: Platform,
  module: Type<unknown>,
  options: { trustProxy?: boolean } = {},
): Promise<INestApplication> {
  const testing = await Test.createTestingModule({ imports: [module] }).compile();
  const app =
    platform === 'fastify'
      ? testing.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ trustProxy: options.trustProxy ?? false }), {
          logger: false,
        })
      : testing.createNestApplication({ logger: false });
  if (platform === 'express' && options.trustProxy) {
    (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set('trust proxy', true);
  }
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Base URL of a listening app. */
export async function urlOf(app: INestApplication): Promise<string> {
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}
