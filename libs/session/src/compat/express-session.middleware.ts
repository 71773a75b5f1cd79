import type { IncomingMessage, ServerResponse } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import type { SessionHandle } from '../session/session.handle.js';
import type { SessionData } from '../session/session.interface.js';
import { assertSessionKey, cloneSessionValue } from '../session/session-value.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';
import {
  answerStoreUnavailable,
  attachLoaded,
  type CompatContext,
  compatContext,
  type CompatSessionCookie,
  withCallback,
} from './compat-loader.js';
import { MIRROR_HIDDEN_KEYS, SessionMirror } from './session-mirror.js';

/** A callback in express-session's style: called with nothing, or with the error. */
export type ExpressSessionCallback = (error?: unknown) => void;

/**
 * `req.session` as express-session shapes it, backed by this library's session. The data is
 * plain properties (typed by your `SessionData`); changes, nested ones included, are staged per
 * key when the request commits or when `save()` runs.
 */
export type ExpressSession = ExpressSessionApi & Partial<SessionData> & Record<string, unknown>;

/** The methods and fields of an express-session `Session` that this compatibility offers. */
export interface ExpressSessionApi {
  /** The session id (also `req.sessionID`). */
  readonly id: string;
  /** The cookie's configured attributes (read-only; configure them in `SessionModule.forRoot`). */
  readonly cookie: CompatSessionCookie;
  /**
   * Ends this session and starts an empty one under a new id, as express-session does; the
   * new one replaces `req.session`. Passport calls it at login and at logout.
   */
  regenerate(callback?: ExpressSessionCallback): this;
  /** Writes the changes made so far now, rather than when the response leaves. */
  save(callback?: ExpressSessionCallback): this;
  /** Removes the record now, expires the cookie and removes `req.session`. */
  destroy(callback?: ExpressSessionCallback): this;
  /**
   * Discards the changes to `req.session` not yet saved. Changes that other requests made
   * since this request loaded the session are not fetched.
   */
  reload(callback?: ExpressSessionCallback): this;
  /** Accepted for compatibility; the library extends the idle timeout on use by itself. */
  touch(): this;
  /** Accepted for compatibility; the cookie's lifetime follows the module's options. */
  resetMaxAge(): this;
}

/** A Connect/Express middleware. */
export type ExpressSessionMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

type CompatRequest = IncomingMessage & { session?: ExpressSession; sessionID?: string; protocol?: string; socket: { encrypted?: boolean } };

const API_NAMES = ['id', 'cookie', 'regenerate', 'save', 'destroy', 'reload', 'touch', 'resetMaxAge'];
const RESERVED: ReadonlySet<string> = new Set([...API_NAMES, ...MIRROR_HIDDEN_KEYS]);
const STATE = Symbol('novanest:express-session');

interface State {
  readonly context: CompatContext;
  readonly req: CompatRequest;
  readonly mirror: SessionMirror;
}

function stateOf(session: object): State {
  return (session as { [STATE]: State })[STATE];
}

/** The prototype of every `req.session`: express-session's methods, none of them enumerable. */
class ExpressSessionMethods implements ExpressSessionApi {
  get id(): string {
    return stateOf(this).mirror.handle.id;
  }

  get cookie(): CompatSessionCookie {
    return stateOf(this).context.cookie;
  }

  regenerate(callback?: ExpressSessionCallback): this {
    const { context, req, mirror } = stateOf(this);
    mirror.detach();
    withCallback(
      context.logger,
      (async () => {
        await mirror.handle.destroy();
        req.session = createExpressSession(context, req, mirror.handle);
      })(),
      callback,
    );
    return this;
  }

  save(callback?: ExpressSessionCallback): this {
    const { context, mirror } = stateOf(this);
    withCallback(
      context.logger,
      (async () => {
        const [error] = mirror.sync();
        if (error !== undefined) throw error;
        await mirror.handle.save();
      })(),
      callback,
    );
    return this;
  }

  destroy(callback?: ExpressSessionCallback): this {
    const { context, req, mirror } = stateOf(this);
    mirror.detach();
    if (req.session === (this as unknown)) delete req.session;
    withCallback(
      context.logger,
      (async () => {
        await mirror.handle.destroy();
        await mirror.handle.save();
      })(),
      callback,
    );
    return this;
  }

  reload(callback?: ExpressSessionCallback): this {
    const { context, mirror } = stateOf(this);
    withCallback(context.logger, mirror.fill(), callback);
    return this;
  }

  touch(): this {
    return this;
  }

  resetMaxAge(): this {
    return this;
  }
}

function reservedError(key: string): TypeError {
  return new TypeError(`req.session.${key} belongs to the session's own API or data; store your value under another key`);
}

/**
 * Checks a value as it is assigned, so a value JSON cannot carry fails where it is written.
 * Nested changes made later are checked when they are staged (and logged if refused).
 */
const handler: ProxyHandler<ExpressSessionMethods> = {
  set(target, key, value, receiver) {
    if (typeof key === 'symbol') return Reflect.set(target, key, value, receiver);
    if (RESERVED.has(key)) throw reservedError(key);
    assertSessionKey(key);
    if (value !== undefined) cloneSessionValue(key, value);
    return Reflect.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  },
  defineProperty(target, key, descriptor) {
    if (typeof key === 'string' && RESERVED.has(key)) throw reservedError(key);
    return Reflect.defineProperty(target, key, descriptor);
  },
};

/** A new `req.session` object over `handle` (already loaded); its data is filled by the caller. */
function createExpressSession(context: CompatContext, req: CompatRequest, handle: SessionHandle): ExpressSession {
  const target = Object.create(ExpressSessionMethods.prototype) as ExpressSessionMethods;
  const mirror = new SessionMirror(handle, target as unknown as Record<string, unknown>, RESERVED, context.logger);
  Object.defineProperty(target, STATE, { value: { context, req, mirror } satisfies State });
  return new Proxy(target, handler) as unknown as ExpressSession;
}

/**
 * An express-session-compatible `req.session` over this library's session, for Passport and
 * the express-session middleware ecosystem (connect-flash, csrf-sync, ...). Use it where
 * `app.use(session({ ... }))` was, before those middleware:
 *
 * ```ts
 * const app = await NestFactory.create(AppModule);
 * app.use(expressSession(app));
 * app.use(passport.initialize());
 * app.use(passport.session());
 * ```
 *
 * Each request's session is loaded before the next middleware runs (a store that cannot answer
 * gives the library's 503). `req.session`'s data is read and written synchronously; when the
 * request commits (or `req.session.save()` runs) each key whose value changed, nested changes
 * included, is staged and written per key, so concurrent requests keep each other's writes.
 * The cookie, the store, timeouts and security stay those of `SessionModule.forRoot`.
 * On Fastify use `fastifySession(app)` instead.
 */
export function expressSession(app: INestApplicationContext): ExpressSessionMiddleware {
  const context = compatContext(app, 'expressSession(app)');
  return (incoming, res, next) => {
    const req = incoming as CompatRequest;
    if (req.session !== undefined) {
      next();
      return;
    }
    attachLoaded(context.manager, req, res).then(
      (handle) => {
        if (handle === undefined) {
          next();
          return;
        }
        const session = createExpressSession(context, req, handle);
        Object.defineProperty(req, 'sessionID', { get: () => handle.id, enumerable: true, configurable: true });
        stateOf(session)
          .mirror.fill()
          .then(() => {
            req.session = session;
            next();
          }, next);
      },
      (error: unknown) => {
        if (error instanceof SessionStoreUnavailableException) answerStoreUnavailable(res, error);
        else next(error);
      },
    );
  };
}
