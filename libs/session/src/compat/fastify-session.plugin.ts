import type { INestApplicationContext } from '@nestjs/common';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { SessionHandle } from '../session/session.handle.js';
import type { SessionData } from '../session/session.interface.js';
import { assertSessionKey, cloneSessionValue } from '../session/session-value.js';
import { SessionStoreUnavailableException } from '../session.exceptions.js';
import { attachLoaded, type CompatContext, compatContext, type CompatSessionCookie, withCallback } from './compat-loader.js';
import type { ExpressSessionCallback } from './express-session.middleware.js';
import { MIRROR_HIDDEN_KEYS, SessionMirror } from './session-mirror.js';

const HIDDEN: ReadonlySet<string> = new Set(MIRROR_HIDDEN_KEYS);

/**
 * `request.session` as @fastify/session and @fastify/secure-session shape it (what
 * @fastify/passport and @fastify/flash call), backed by this library's session. Reads and
 * writes are synchronous; values handed out by `get` may be changed in place, and such changes
 * are saved too. Changed keys are staged per key when the request commits or `save()` runs.
 */
export class FastifyCompatSession {
  private mirror: SessionMirror;

  /** @internal */
  constructor(
    private readonly context: CompatContext,
    private readonly handle: SessionHandle,
  ) {
    this.mirror = this.newMirror();
  }

  /** The session id. */
  get sessionId(): string {
    return this.handle.id;
  }

  /** The session id (as `sessionId`). */
  get id(): string {
    return this.handle.id;
  }

  /** The cookie's configured attributes (configure them in `SessionModule.forRoot`). */
  get cookie(): CompatSessionCookie {
    return this.context.cookie;
  }

  /** The value of `key`, or `undefined`. Changing a returned object changes the session. */
  get<K extends keyof SessionData & string>(key: K): SessionData[K] | undefined;
  get<T = unknown>(key: string): T | undefined;
  get(key: string): unknown {
    return HIDDEN.has(key) || !Object.hasOwn(this.mirror.data, key) ? undefined : this.mirror.data[key];
  }

  /** Sets `key` (`undefined` removes it). A value JSON cannot carry is refused with `SessionValueError`. */
  set(key: string, value: unknown): void {
    assertSessionKey(key);
    if (HIDDEN.has(key)) {
      throw new TypeError(
        `session key ${JSON.stringify(key)} is reserved for the session's own data (flash messages, CSRF secret, user binding)`,
      );
    }
    if (value === undefined) {
      delete this.mirror.data[key];
      return;
    }
    cloneSessionValue(key, value);
    Object.defineProperty(this.mirror.data, key, { value, writable: true, enumerable: true, configurable: true });
  }

  /** A shallow copy of all values. */
  data(): Partial<SessionData> & Record<string, unknown> {
    return { ...this.mirror.data };
  }

  /** Ends the session (as @fastify/secure-session's `delete()`): the record goes and the cookie is expired at commit. */
  delete(): void {
    this.startOver([]).catch((error: unknown) => this.context.logger.error(`session delete() failed: ${String(error)}`));
  }

  /**
   * Ends this session and starts an empty one under a new id, keeping only the keys listed in
   * `keep` (as @fastify/session's `regenerate(ignoreFields)`). @fastify/passport calls it at
   * login and logout.
   */
  regenerate(keep?: readonly string[]): Promise<void>;
  regenerate(callback: ExpressSessionCallback): void;
  regenerate(keepOrCallback?: readonly string[] | ExpressSessionCallback): Promise<void> | void {
    if (typeof keepOrCallback === 'function') return withCallback(this.context.logger, this.startOver([]), keepOrCallback);
    return this.startOver(keepOrCallback ?? []);
  }

  /** Removes the record now and expires the cookie. */
  destroy(): Promise<void>;
  destroy(callback: ExpressSessionCallback): void;
  destroy(callback?: ExpressSessionCallback): Promise<void> | void {
    const work = this.startOver([]).then(() => this.handle.save());
    return callback === undefined ? work : withCallback(this.context.logger, work, callback);
  }

  /** Writes the changes made so far now, rather than when the response leaves. */
  save(): Promise<void>;
  save(callback: ExpressSessionCallback): void;
  save(callback?: ExpressSessionCallback): Promise<void> | void {
    const work = (async () => {
      const [error] = this.mirror.sync();
      if (error !== undefined) throw error;
      await this.handle.save();
    })();
    return callback === undefined ? work : withCallback(this.context.logger, work, callback);
  }

  /** Discards the changes not yet saved (changes by other requests meanwhile are not fetched). */
  reload(): Promise<void>;
  reload(callback: ExpressSessionCallback): void;
  reload(callback?: ExpressSessionCallback): Promise<void> | void {
    const work = this.mirror.fill();
    return callback === undefined ? work : withCallback(this.context.logger, work, callback);
  }

  /** Accepted for compatibility; the library extends the idle timeout on use by itself. */
  touch(): void {}

  /** @internal Loads the values into the mirror. */
  fill(): Promise<void> {
    return this.mirror.fill();
  }

  private newMirror(): SessionMirror {
    const data = Object.create(null) as Record<string, unknown>;
    return new SessionMirror(this.handle, data, HIDDEN, this.context.logger);
  }

  private async startOver(keep: readonly string[]): Promise<void> {
    const kept = keep.filter((key) => Object.hasOwn(this.mirror.data, key)).map((key) => [key, this.mirror.data[key]] as const);
    this.mirror.detach();
    await this.handle.destroy();
    // Made after the destroy, which would end a mirror already listening.
    this.mirror = this.newMirror();
    // Staged at commit like any other change: the new session holds only these.
    for (const [key, value] of kept) this.set(key, value);
  }
}

/** The few Fastify request fields the hook uses. */
export interface FastifyRequestLike {
  headers: IncomingHttpHeaders;
  protocol?: string;
  raw: object;
  session?: unknown;
}

/** The few Fastify reply members the hook uses. */
export interface FastifyReplyLike {
  raw: ServerResponse;
  code(status: number): FastifyReplyLike;
  send(payload: unknown): FastifyReplyLike;
}

/** The few Fastify instance members the plugin uses. */
export interface FastifyInstanceLike {
  hasRequestDecorator(name: string): boolean;
  decorateRequest(name: string, value: null): unknown;
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
}

/** A Fastify plugin: pass it to `app.register()`. */
export type FastifySessionPlugin = (instance: FastifyInstanceLike) => Promise<void>;

/**
 * A `request.session` with the API of @fastify/session over this library's session, for
 * @fastify/passport and the Fastify plugins that read `request.session`. Register it before
 * them:
 *
 * ```ts
 * const app = await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter());
 * await app.register(fastifySession(app));
 * await app.register(fastifyPassport.initialize());
 * await app.register(fastifyPassport.secureSession());
 * ```
 *
 * Each request's session is loaded in an `onRequest` hook (a store that cannot answer gives the
 * library's 503); the cookie, the store, timeouts and security stay those of
 * `SessionModule.forRoot`. On Express use `expressSession(app)` instead.
 */
export function fastifySession(app: INestApplicationContext): FastifySessionPlugin {
  const context = compatContext(app, 'fastifySession(app)');
  const onRequest = async (request: FastifyRequestLike, reply: FastifyReplyLike): Promise<unknown> => {
    if (request.session instanceof FastifyCompatSession) return undefined;
    let handle: SessionHandle | undefined;
    try {
      handle = await attachLoaded(context.manager, request, reply);
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableException)) throw error;
      return reply.code(error.getStatus()).send(error.getResponse());
    }
    if (handle === undefined) return undefined;
    const session = new FastifyCompatSession(context, handle);
    await session.fill();
    request.session = session;
    return undefined;
  };
  const plugin = async (instance: FastifyInstanceLike): Promise<void> => {
    // Declared up front: plugins such as @fastify/flash check for it when they are registered.
    if (!instance.hasRequestDecorator('session')) instance.decorateRequest('session', null);
    instance.addHook('onRequest', onRequest);
  };
  // Not encapsulated (what fastify-plugin does): the hook and the decorator apply to the whole app.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'novanest-session' });
  return plugin;
}
