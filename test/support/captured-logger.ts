import type { INestApplication, LoggerService, Type } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Platform } from './platforms.js';

/** One line of Nest's logger output: level, message and the logger's context. */
export interface LogLine {
  level: string;
  message: string;
  context: unknown;
}

/** Nest's logger output, line by line, as the application's own logger receives it. */
export class CapturedLogger implements LoggerService {
  readonly lines: LogLine[] = [];
  private record(level: string, message: unknown, params: unknown[]): void {
    this.lines.push({ level, message: String(message), context: params[params.length - 1] });
  }
  log(message: unknown, ...params: unknown[]): void {
    this.record('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.record('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.record('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.record('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.record('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.record('fatal', message, params);
  }
  /** What the session module said at warn level or above. */
  sessionLines(): LogLine[] {
    return this.lines.filter((line) => line.context === 'SessionModule' && ['warn', 'error', 'fatal'].includes(line.level));
  }
}

/**
 * Boots `module` on `platform` with `logger` as the application's logger (so the session
 * module's lines land in it), listening on a free loopback port.
 */
export async function startAppWithLogger(
  platform: Platform,
  module: Type<unknown>,
  logger: LoggerService,
  options: { trustProxy?: boolean } = {},
): Promise<INestApplication> {
  const testing = await Test.createTestingModule({ imports: [module] }).compile();
  const app =
    platform === 'fastify'
      ? testing.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ trustProxy: options.trustProxy ?? false }), { logger })
      : testing.createNestApplication({ logger });
  if (platform === 'express' && options.trustProxy) {
    (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set('trust proxy', true);
  }
  await app.listen(0, '127.0.0.1');
  return app;
}
