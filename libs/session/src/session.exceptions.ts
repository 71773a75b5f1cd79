import { ServiceUnavailableException } from '@nestjs/common';

/**
 * The session store could not answer (down, unreachable, timed out). The request fails with
 * 503, nothing is half-written and the client's cookie is left as it was.
 */
export class SessionStoreUnavailableException extends ServiceUnavailableException {
  constructor(options?: { cause?: unknown }) {
    super('Session store unavailable; please retry shortly.', { cause: options?.cause });
  }
}

/** A value passed to `session.set` cannot be stored as JSON without loss. Nothing was written. */
export class SessionValueError extends TypeError {
  override readonly name = 'SessionValueError';
}

/** A session call was made while `SessionModule` runs with `enabled: false`. */
export class SessionsDisabledError extends Error {
  override readonly name = 'SessionsDisabledError';
  constructor() {
    super('Sessions are disabled (SessionModule enabled: false); enable them to use the session.');
  }
}

/**
 * A session was asked for on something that is not an HTTP request `SessionModule` has seen:
 * a session belongs to an HTTP request, and every request the module serves has one.
 */
export class MissingSessionError extends Error {
  override readonly name = 'MissingSessionError';
  constructor() {
    super(
      'No session here: a session belongs to an HTTP request, so pass the request itself (req in middleware, ' +
        "context.switchToHttp().getRequest() in a guard, the GraphQL context's req) and import SessionModule.forRoot() " +
        "in the application module; a WebSocket gateway reads its socket's session with WsSessionService, and code with " +
        'no HTTP request (a queue job, a microservice handler) can end a session by id with SessionService.revoke(id).',
    );
  }
}

/**
 * A session grew past its size limit: with the cookie store, the 4096 bytes a browser keeps
 * for a cookie; with a server-side store, `maxSessionBytes` (default 64 KiB) of JSON. The change
 * that caused it is refused at `set` or `flash` (never truncated) and the session stays as it
 * was; nothing of it is committed. One class for both, so an app catches one thing (a 413 is
 * the natural answer).
 */
export class SessionTooLargeError extends Error {
  override readonly name = 'SessionTooLargeError';
  /**
   * @param size the session's size in bytes with the refused change: the cookie line, or the
   *   UTF-8 length of the session's data as one JSON object
   * @param limit the limit in bytes it would exceed
   * @param where `'cookie'`: the sealed cookie's browser limit; `'store'`: `maxSessionBytes`
   */
  constructor(
    readonly size: number,
    readonly limit: number = 4096,
    readonly where: 'cookie' | 'store' = 'cookie',
  ) {
    super(
      where === 'cookie'
        ? `session cookie would be ${size} bytes, over the ${limit}-byte browser limit; store less in the session or use a server-side store`
        : `session would be ${size} bytes of JSON, over the ${limit}-byte limit (maxSessionBytes); store less in the session or raise maxSessionBytes`,
    );
  }
}

/**
 * A session change was made after the request's session was committed (the response was on
 * its way): it would be lost, so it is refused instead.
 */
export class SessionAlreadyCommittedError extends Error {
  override readonly name = 'SessionAlreadyCommittedError';
  constructor() {
    super('the session was already committed for this response; make session changes before the response is sent');
  }
}

/** Thrown at start-up for a bad option: one sentence that names the option and the fix. */
export class SessionOptionsError extends Error {
  override readonly name = 'SessionOptionsError';
}

/**
 * With `failFast: true`, the store's start-up check failed: `app.init()` rejects with this
 * error, whose message names the store, its address and the fix.
 */
export class SessionStoreCheckError extends Error {
  override readonly name = 'SessionStoreCheckError';
}
