/**
 * The routes most e2e suites drive a session through: set, read, delete, clear, destroy,
 * regenerate, flash. A suite serves them with `sessionTestModule(...)`, adding its own
 * controller for what only it needs (paths must not collide with these).
 */
import { Body, Controller, Get, HttpCode, Module, Param, PayloadTooLargeException, Post, Redirect, type Type } from '@nestjs/common';
import { Session, SessionModule, type SessionModuleOptions, type SessionStore, SessionTooLargeError } from '@novanest/session';

@Controller()
export class SessionTestController {
  /** Never touches the session: no store I/O, and shows the process is alive while the store is down. */
  @Get('untouched')
  untouched(): string {
    return 'ok';
  }

  /** The whole session, loaded first so that `id` is the one the response's cookie carries. */
  @Get('read')
  async read(@Session() session: Session) {
    await session.load();
    return { id: session.id, isNew: session.isNew, data: await session.all() };
  }

  @Get('get/:key')
  async get(@Session() session: Session, @Param('key') key: string) {
    return { value: (await session.get(key)) ?? null };
  }

  /** Sets one key; a session too large for the cookie store is a 413 with the library's message. */
  @Post('set')
  @HttpCode(200)
  async set(@Session() session: Session, @Body() body: { key: string; value: unknown }) {
    try {
      await session.set(body.key, body.value);
    } catch (error) {
      if (error instanceof SessionTooLargeError) throw new PayloadTooLargeException(error.message);
      throw error;
    }
    return { id: session.id };
  }

  @Post('delete')
  @HttpCode(200)
  async delete(@Session() session: Session, @Body() body: { key: string }) {
    await session.delete(body.key);
    return { ok: true };
  }

  @Post('clear')
  @HttpCode(200)
  async clear(@Session() session: Session) {
    await session.clear();
    return { id: session.id, data: await session.all() };
  }

  @Post('destroy')
  @HttpCode(200)
  async destroy(@Session() session: Session) {
    await session.destroy();
    return { ok: true };
  }

  @Post('regenerate')
  @HttpCode(200)
  async regenerate(@Session() session: Session) {
    await session.regenerate();
    return { id: session.id };
  }

  /** Post/redirect/get: the flash is readable on the next request only. */
  @Post('flash')
  @Redirect('/flash')
  async flash(@Session() session: Session, @Body() body: { message: string }) {
    await session.flash('notice', body.message);
  }

  @Get('flash')
  async showFlash(@Session() session: Session) {
    return { notice: (await session.getFlash<string>('notice')) ?? null, data: await session.all() };
  }
}

/**
 * An app module serving `SessionTestController` (and `controllers`, a suite's own routes) over
 * `store` (the default memory store when undefined).
 */
export function sessionTestModule(
  store: SessionStore | undefined,
  options: SessionModuleOptions = {},
  ...controllers: Type<unknown>[]
): Type<unknown> {
  @Module({ imports: [SessionModule.forRoot(store, options)], controllers: [SessionTestController, ...controllers] })
  class SessionTestModule {}
  return SessionTestModule;
}
