import type { INestApplicationContext, Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { HttpRequestLike, HttpResponseLike } from '../request/http-adapter.js';
import { isLiveSession, SessionManager } from '../request/session.manager.js';
import type { SessionHandle } from '../session/session.handle.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';

/** Cookie attributes as configured, for code that reads `req.session.cookie`. */
export interface CompatSessionCookie {
  readonly path: string;
  readonly domain: string | undefined;
  readonly httpOnly: boolean;
  readonly sameSite: 'lax' | 'strict' | 'none';
  /** `'auto'`: Secure when the request came over HTTPS. */
  readonly secure: boolean | 'auto';
}

/** What both compatibility faces need from the application, looked up once. Internal. */
export interface CompatContext {
  readonly manager: SessionManager;
  readonly logger: Logger;
  readonly cookie: CompatSessionCookie;
}

/** Finds the application's `SessionManager`; fails at start-up with one sentence when there is none. Internal. */
export function compatContext(app: INestApplicationContext, what: string): CompatContext {
  let manager: SessionManager;
  try {
    manager = app.get(SessionManager, { strict: false });
  } catch {
    throw new Error(`${what} needs SessionModule.forRoot() imported in the application module passed to it`);
  }
  const { path, domain, httpOnly, sameSite, secure } = manager.options.cookie;
  const cookie = readOnlyCookie(Object.freeze({ path, domain, httpOnly, sameSite, secure }));
  return { manager, logger: manager.logger, cookie };
}

/**
 * The cookie attributes behind a proxy whose every write throws a sentence saying where they
 * are set: express-session code such as "remember me" (`req.session.cookie.maxAge = ...`)
 * otherwise fails with a bare "object is not extensible", or silently in sloppy mode.
 */
function readOnlyCookie(cookie: CompatSessionCookie): CompatSessionCookie {
  const refuse = (key: string | symbol): never => {
    throw new TypeError(
      `req.session.cookie.${String(key)} cannot be set per request: the cookie's attributes and lifetime come from ` +
        'SessionModule.forRoot(store, options) (cookie, persistent, idleTimeout, absoluteTimeout)',
    );
  };
  return new Proxy(cookie, {
    set: (_target, key) => refuse(key),
    defineProperty: (_target, key) => refuse(key),
    deleteProperty: (_target, key) => refuse(key),
  });
}

/**
 * Attaches the request's session and loads it, so that its data can be read synchronously.
 * Resolves `undefined` when sessions are disabled (the request goes on without a session).
 * Rejects with `SessionStoreUnavailableException` when the store cannot answer. Internal.
 */
export async function attachLoaded(
  manager: SessionManager,
  request: HttpRequestLike,
  response: HttpResponseLike,
): Promise<SessionHandle | undefined> {
  // Not routed: the route-time cookie rule stays with the guards and the interceptor.
  const session = manager.attach(request, response, false);
  if (!isLiveSession(session)) return undefined;
  await session.load();
  return session;
}

/**
 * Answers a request whose session could not be loaded: the library's 503 (the body Nest gives
 * a `SessionStoreUnavailableException`), or a cut connection when the response already began.
 * Internal.
 */
export function answerStoreUnavailable(res: ServerResponse, error: SessionStoreUnavailableException): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(error.getResponse());
  res.statusCode = error.getStatus();
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Runs a session operation for an express-session-style method: the callback gets `undefined`
 * or the error. Without a callback an error is only logged at debug level: the store's own
 * failures are logged where they happen, and the final commit meets them again (503).
 * A callback that throws is logged, never left to crash the process. Internal.
 */
export function withCallback(logger: Logger, work: Promise<void>, callback: ((error?: unknown) => void) | undefined): void {
  void work.then(
    () => call(logger, callback, undefined),
    (error: unknown) => {
      if (callback === undefined) logger.debug(`A session operation without a callback failed: ${String(error)}`);
      else call(logger, callback, error);
    },
  );
}

function call(logger: Logger, callback: ((error?: unknown) => void) | undefined, error: unknown): void {
  if (callback === undefined) return;
  try {
    if (error === undefined) callback();
    else callback(error);
  } catch (thrown) {
    logger.error('A callback passed to a req.session method threw', thrown instanceof Error ? thrown.stack : String(thrown));
  }
}
