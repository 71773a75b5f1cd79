import { SecurityDeniedGraphQLError } from './security-denied.graphql-error.js';
import { SessionUnauthorizedException } from './security.exceptions.js';
import { deny, redirectTo } from './security.results.js';

describe('SecurityDeniedGraphQLError', () => {
  it('false (a 401) is UNAUTHENTICATED with the login message', () => {
    const error = new SecurityDeniedGraphQLError(new SessionUnauthorizedException());
    expect(error.message).toBe('Authentication required; please log in.');
    expect(error.extensions).toEqual({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('deny() takes its code from the status and its message from the body', () => {
    expect(new SecurityDeniedGraphQLError(deny({ status: 403, body: 'Admins only' }))).toMatchObject({
      message: 'Admins only',
      extensions: { code: 'FORBIDDEN', status: 403 },
    });
    expect(new SecurityDeniedGraphQLError(deny({ status: 403, body: { message: 'Not yours' } })).message).toBe('Not yours');
    expect(new SecurityDeniedGraphQLError(deny({ status: 429 }))).toMatchObject({
      message: 'Too Many Requests',
      extensions: { code: 'TOO_MANY_REQUESTS', status: 429 },
    });
    expect(new SecurityDeniedGraphQLError(deny({ status: 418 })).extensions.code).toBe('I_M_A_TEAPOT');
    // An object body without a string message falls back to the status text.
    expect(new SecurityDeniedGraphQLError(deny({ status: 404, body: { message: 7 } })).message).toBe('Not Found');
  });

  it('redirectTo() cannot be followed in a GraphQL result: UNAUTHENTICATED with the location', () => {
    const error = new SecurityDeniedGraphQLError(redirectTo('/café?next=/a'));
    expect(error.message).toBe('Authentication required; please log in.');
    expect(error.extensions).toEqual({ code: 'UNAUTHENTICATED', status: 302, location: '/caf%C3%A9?next=/a' });
  });

  it('keeps the denial as its cause and is no HttpException (GraphQL servers keep its code)', () => {
    const denial = deny({ status: 403 });
    const error = new SecurityDeniedGraphQLError(denial);
    expect(error.cause).toBe(denial);
    expect(error).not.toHaveProperty('getStatus');
    expect(error.name).toBe('SecurityDeniedGraphQLError');
  });
});
