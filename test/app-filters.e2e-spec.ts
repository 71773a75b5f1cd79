/**
 * An application's own app-wide exception filter and the library's `SecurityDeniedFilter`,
 * which `SessionModule` registers globally. Nest gives an exception to one filter only: the
 * route's, then the controller's, then the first matching global one, global filters taken
 * from the last registered. So an app-wide filter registered as an `APP_FILTER` provider does
 * not see security denials (the library's provider is registered after it), while one passed
 * to `app.useGlobalFilters()` in `main.ts` does, which is what the README recommends.
 */
import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  HttpException,
  type INestApplication,
  Module,
  UseGuards,
} from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import request from 'supertest';
import { MemoryStore, Security, SessionAuthGuard, SessionModule } from '@novanest/session';
import { PLATFORMS, type Platform } from './support/platforms.js';

/** Answers every HTTP error with its own body, so the test can tell who handled it. */
@Catch(HttpException)
class AppWideFilter implements ExceptionFilter {
  catch(exception: HttpException, host: ArgumentsHost): void {
    const body = { handledBy: 'AppWideFilter', status: exception.getStatus() };
    // Fastify's reply has code(); Express's response has none.
    const reply = host.switchToHttp().getResponse<{
      code?(status: number): { send(body: unknown): void };
      status(status: number): { json(body: unknown): void };
    }>();
    if (typeof reply.code === 'function') reply.code(exception.getStatus()).send(body);
    else reply.status(exception.getStatus()).json(body);
  }
}

@Controller()
@UseGuards(SessionAuthGuard)
class GuardedController {
  @Get('private')
  @Security(() => false)
  private(): string {
    return 'never';
  }
}

async function boot(platform: Platform, asProvider: boolean): Promise<INestApplication> {
  @Module({
    imports: [SessionModule.forRoot(new MemoryStore())],
    controllers: [GuardedController],
    providers: asProvider ? [{ provide: APP_FILTER, useClass: AppWideFilter }] : [],
  })
  class AppModule {}
  const app =
    platform === 'fastify'
      ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(AppModule, { logger: false });
  if (!asProvider) app.useGlobalFilters(new AppWideFilter());
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each(PLATFORMS)("an app-wide exception filter and the library's denials (%s)", (platform) => {
  it('passed to app.useGlobalFilters(), it handles security denials', async () => {
    const app = await boot(platform, false);
    try {
      const response = await request(app.getHttpServer()).get('/private');
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ handledBy: 'AppWideFilter', status: 401 });
    } finally {
      await app.close();
    }
  });

  it("registered as an APP_FILTER provider, it does not: the library's filter answers", async () => {
    const app = await boot(platform, true);
    try {
      const response = await request(app.getHttpServer()).get('/private').set('Accept', 'application/json');
      expect(response.status).toBe(401);
      expect(response.body).not.toHaveProperty('handledBy');
      expect(response.body).toEqual({ statusCode: 401, message: 'Authentication required; please log in.', error: 'Unauthorized' });
    } finally {
      await app.close();
    }
  });
});
