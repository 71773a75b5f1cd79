import { type ExecutionContext, type INestApplication, UnauthorizedException } from '@nestjs/common';
import fastifyPassport from '@fastify/passport';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Strategy } from 'passport-local';
import { AuthService, type PublicUser } from './auth/auth.service.js';

/** A Fastify request carries the Node request in `raw`; Express's request is the Node request. */
export function isFastifyRequest(request: unknown): request is FastifyRequest {
  return typeof request === 'object' && request !== null && 'raw' in request;
}

/**
 * On Fastify, @fastify/passport plays Passport's part: the same passport-local strategy and the
 * same password check, and the whole (password-free) user in the session.
 */
export async function useFastifyPassport(app: INestApplication): Promise<void> {
  const auth = app.get(AuthService);
  fastifyPassport.use(
    'local',
    new Strategy((username, password, done) => {
      auth.validateUser(username, password).then((user) => done(null, user ?? false), done);
    }),
  );
  fastifyPassport.registerUserSerializer(async (user: PublicUser) => user);
  fastifyPassport.registerUserDeserializer(async (user: PublicUser) => user);
  const fastify = app as unknown as { register(plugin: unknown): Promise<unknown> };
  await fastify.register(fastifyPassport.initialize());
  await fastify.register(fastifyPassport.secureSession());
}

/** LocalAuthGuard on Fastify: check the password and start the login session (401 otherwise). */
export async function fastifyLocalLogin(context: ExecutionContext): Promise<boolean> {
  const http = context.switchToHttp();
  const authenticate = fastifyPassport.authenticate('local', { failWithError: true, authInfo: false });
  try {
    await authenticate.call(undefined as never, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
  } catch (error) {
    if ((error as { status?: unknown }).status === 401) throw new UnauthorizedException();
    throw error;
  }
  return true;
}
