import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';

/** Lets a request through when its session holds a logged-in user (403 otherwise). */
@Injectable()
export class AuthenticatedGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    // Passport (Express) and @fastify/passport (Fastify) both add isAuthenticated().
    return context.switchToHttp().getRequest<{ isAuthenticated(): boolean }>().isAuthenticated();
  }
}
