import { type ExecutionContext, Injectable } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import type { Request } from 'express';
import { fastifyLocalLogin, isFastifyRequest } from '../fastify-passport.js';

/**
 * The Nest docs' login guard: passport-local checks the password, then `logIn` starts the
 * login session (Passport regenerates the session id and stores the user in it). On Fastify
 * the same is done by @fastify/passport.
 */
@Injectable()
export class LocalAuthGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (isFastifyRequest(context.switchToHttp().getRequest())) return fastifyLocalLogin(context);
    const result = (await super.canActivate(context)) as boolean;
    const request = context.switchToHttp().getRequest<Request>();
    await super.logIn(request);
    return result;
  }
}
