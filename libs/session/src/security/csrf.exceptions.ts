import { ForbiddenException } from '@nestjs/common';

/** Why `SessionCsrfGuard` refused a request. */
export type SessionCsrfFailure = 'missing' | 'invalid' | 'cross-origin';

const MESSAGES: Record<SessionCsrfFailure, string> = {
  missing: 'CSRF token missing: send the token of this session in the x-csrf-token header or the _csrf form field.',
  invalid: 'CSRF token invalid: it was not issued for this session (or the session changed at login); fetch a fresh one.',
  'cross-origin': 'Cross-origin request refused',
};

/**
 * 403: `SessionCsrfGuard` refused an unsafe request (no token, a token of another session, or
 * a request from another origin). The handler did not run and the request's session changes
 * were dropped. `reason` says which check failed; catch it with
 * `@Catch(SessionCsrfException)` to render your own page.
 */
export class SessionCsrfException extends ForbiddenException {
  constructor(
    /** Which check failed. */
    readonly reason: SessionCsrfFailure,
    /** For `'cross-origin'`: what gave the request away, appended to the message. */
    detail?: string,
  ) {
    super(detail === undefined ? MESSAGES[reason] : `${MESSAGES[reason]}: ${detail}.`);
  }
}
