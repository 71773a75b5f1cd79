import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { HttpRequestLike, HttpResponseLike } from './http-adapter.js';
import { SessionManager } from './session.manager.js';

/**
 * Gives each request its session before anything of the application runs: `SessionModule`
 * applies it to every route, ahead of the application's own middleware (the module is global,
 * and Nest runs a global module's middleware first). Creating the handle costs no store I/O,
 * and a request that never uses its session gets no cookie from here: the response is gated
 * from the first use, or when a route's guard or interceptor runs for a visitor who needs a
 * cookie (see `SessionManager.attach`).
 */
@Injectable()
export class SessionMiddleware implements NestMiddleware {
  constructor(protected readonly sessions: SessionManager) {}

  use(request: HttpRequestLike, response: HttpResponseLike, next: (error?: unknown) => void): void {
    this.sessions.attach(request, response, false);
    next();
  }
}
