import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { type Observable, catchError, defer, mergeMap } from 'rxjs';
import type { HttpRequestLike, HttpResponseLike } from './http/http-adapter.js';
import { SessionManager, isLiveSession } from './session.manager.js';

function statusOf(error: unknown): number {
  return error instanceof HttpException ? error.getStatus() : 500;
}

/**
 * Nova's stream handler as a Nest interceptor (registered globally by `SessionModule`): every
 * visitor of a route gets a session cookie, and the request's session changes are committed
 * once, before the response leaves. A handler that fails with a 5xx commits nothing; one that
 * fails with a 4xx commits what it staged. When the store cannot answer, the response is a 503.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(protected readonly sessions: SessionManager) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const session = this.sessions.attach(
      http.getRequest<HttpRequestLike>(),
      http.getResponse<HttpResponseLike>(),
    );
    if (!isLiveSession(session)) return next.handle();

    return next.handle().pipe(
      catchError((error: unknown) =>
        defer(async () => {
          await session.finalize(statusOf(error));
          throw error;
        }),
      ),
      mergeMap(async (value) => {
        try {
          await session.finalize(200);
        } catch (error) {
          // An @Res() handler's response was already answered with 503 by the response gate.
          if (!session.failureAnswered) throw error;
        }
        return value;
      }),
    );
  }
}
