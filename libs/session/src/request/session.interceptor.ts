import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { httpPairOf } from './execution-context.js';
import { SessionManager } from './session.manager.js';
import { rememberSocketIoHandshake } from '../websocket/socket-handshake.js';

/**
 * Nova's stream handler as a Nest interceptor (registered globally by `SessionModule`): it
 * gives every request on a route its session (created without store I/O) and sets up the
 * commit. The commit itself happens when the response starts to leave, with the status the
 * response really carries (see the response gate): whatever a handler, an exception filter or
 * another interceptor decides, a 2xx/3xx/4xx response commits the request's session changes
 * before it is sent, a 5xx commits nothing, and a commit the store refuses becomes a 503.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(protected readonly sessions: SessionManager) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = httpPairOf(context);
    if (http !== undefined) this.sessions.attach(http.request, http.response);
    // A gateway message: remember a socket.io handshake, so `@Session()` can reach it.
    else if (context.getType() === 'ws') rememberSocketIoHandshake(this.sessions, context.switchToWs().getClient());
    return next.handle();
  }
}
