import { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { parseCookie } from 'cookie';
import { SessionCookieWriter } from '../cookie/session-cookie.js';
import { createSessionPersistence } from '../persistence/session-persistence.factory.js';
import type { IncomingSession, SessionPersistence } from '../persistence/session-persistence.js';
import { type HttpRequestLike, type HttpResponseLike, isSecureRequest, rawResponse } from './http-adapter.js';
import { gateResponse } from './response-gate.js';
import { CookieTransportWarnings } from './cookie-transport.warnings.js';
import { SESSION_HANDLE, SESSION_LOGGER_CONTEXT, SESSION_OPTIONS } from '../session.constants.js';
import { MissingSessionError, SessionsDisabledError } from '../session.exceptions.js';
import { SessionHandle } from '../session/session.handle.js';
import type { Session } from '../session/session.interface.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { SessionStore } from '../stores/session.store.js';

/** Set on the raw request next to the handle: its route-time hook. */
const SESSION_ROUTED = Symbol('novanest:session-routed');

/** What the module hangs on the raw Node request: the handle, and the route-time hook below. */
interface SessionCarrier {
  [SESSION_HANDLE]?: Session;
  /** Called when a route's guard or interceptor reaches the request (see `attach`). */
  [SESSION_ROUTED]?: (request: HttpRequestLike) => void;
}

/**
 * The raw Node request underneath a platform's request: Express's request is one itself,
 * Fastify's keeps it in `raw`. The handle lives there, so middleware (which sees the raw request
 * on Fastify), guards and resolvers (which see Fastify's wrapper) all find the same one.
 */
function carrierOf(request: object): SessionCarrier {
  const raw = (request as { raw?: unknown }).raw;
  if (typeof raw === 'object' && raw !== null && !(request instanceof IncomingMessage)) return raw as SessionCarrier;
  return request as SessionCarrier;
}

/**
 * The session the module gave this request (an Express or Fastify request, or the raw Node
 * one), or `undefined` when the module has not seen it.
 */
export function findSession(request: object): Session | undefined {
  return carrierOf(request)[SESSION_HANDLE];
}

function disabled(): never {
  throw new SessionsDisabledError();
}

/** Stands in for the session when the module runs with `enabled: false`: every call throws. */
const DISABLED_SESSION: Session = {
  get id(): string {
    return disabled();
  },
  get isNew(): boolean {
    return disabled();
  },
  get userId(): string | undefined {
    return disabled();
  },
  bindUser: async () => disabled(),
  load: async () => disabled(),
  get: async () => disabled(),
  set: async () => disabled(),
  delete: async () => disabled(),
  all: async () => disabled(),
  clear: async () => disabled(),
  destroy: async () => disabled(),
  regenerate: async () => disabled(),
  drop: async () => disabled(),
  flash: async () => disabled(),
  getFlash: async () => disabled(),
  ignoreChanges: () => disabled(),
  save: async () => disabled(),
  update: async () => disabled(),
  increment: async () => disabled(),
};

/**
 * Creates and finds the one session handle of each request. The interceptor, the guard, the
 * `@Session()` decorator and `SessionService` all go through here. It appears in the published
 * types only as the type of their injected dependency: its members are internal (stripped from
 * the `.d.ts`), so a subclass of the guard or the service passes it on without using it.
 */
@Injectable()
export class SessionManager {
  /** @internal */
  readonly logger = new Logger(SESSION_LOGGER_CONTEXT);
  /** @internal One cookie writer for every request. */
  readonly cookies: SessionCookieWriter;
  /** @internal Where every request's session record lives: chosen here, once, from the store. */
  readonly persistence: SessionPersistence;
  /** @internal */
  readonly options: ResolvedSessionOptions;
  /** @internal */
  readonly store: SessionStore;
  /** @internal Warns once about Secure cookies that browsers drop or that go out without Secure. */
  readonly transportWarnings: CookieTransportWarnings;

  /** @internal */
  constructor(@Inject(SESSION_OPTIONS) options: ResolvedSessionOptions, store: SessionStore) {
    this.options = options;
    this.store = store;
    this.cookies = new SessionCookieWriter(options);
    this.persistence = createSessionPersistence(store, options, this.cookies, this.logger);
    this.transportWarnings = new CookieTransportWarnings(options.cookie.secure, this.logger);
  }

  /**
   * @internal The request's session, created (without store I/O) on the first call, whoever
   * makes it: the module's middleware, an application's middleware or guard, the interceptor.
   *
   * A visitor whose cookie is valid and current needs no Set-Cookie unless the session is used,
   * so its response is gated only from the first use. Every other visitor gets (or renews) a
   * cookie on any response from a route: `routed` says the request reached one (a guard or the
   * interceptor is running), which gates the response now. The middleware attaches with
   * `routed: false`, so a path that no route serves (a 404 from the platform) sends no cookie
   * unless something used the session.
   */
  attach(request: HttpRequestLike, response: HttpResponseLike | undefined, routed = true): Session {
    const carrier = carrierOf(request);
    const existing = carrier[SESSION_HANDLE];
    if (existing !== undefined) {
      if (routed) carrier[SESSION_ROUTED]?.(request);
      return existing;
    }
    if (!this.options.enabled) {
      carrier[SESSION_HANDLE] = DISABLED_SESSION;
      return DISABLED_SESSION;
    }
    // Without its response (a GraphQL context of Apollo on Fastify), only a request the
    // middleware already served can be given its session.
    if (response === undefined) throw new MissingSessionError();
    const incoming = this.readIncoming(request);
    const raw = rawResponse(response);
    // Fastify's middleware sees the raw request, which knows nothing of trust proxy: the
    // platform's request replaces it once a guard or the interceptor passes it in.
    let platformRequest = request;
    let gated = false;
    const gate = (handle: SessionHandle): void => {
      if (gated) return;
      gated = true;
      // First used after the response left: reads still work, changes are refused.
      if (raw.headersSent || raw.writableEnded) handle.discard();
      else gateResponse(raw, handle);
    };
    const handle = new SessionHandle(this, incoming, () => isSecureRequest(platformRequest), gate);
    const needsCookie = incoming === undefined || incoming.stale;
    const onRouted = (seen: HttpRequestLike): void => {
      if (seen !== platformRequest && 'protocol' in seen) platformRequest = seen;
      // Only the platform's request knows about trust proxy (Fastify's raw one does not).
      if (this.transportWarnings.pending && 'protocol' in platformRequest) this.transportWarnings.check(platformRequest);
      if (needsCookie) gate(handle);
    };
    carrier[SESSION_HANDLE] = handle;
    carrier[SESSION_ROUTED] = onRouted;
    if (routed) onRouted(request);
    return handle;
  }

  /**
   * @internal The request's session. A request the module's middleware has not reached yet
   * (Express middleware the app registered with `app.use`) gets it through the response Express
   * links to it; `MissingSessionError` is left for objects that are no HTTP request the module saw.
   */
  sessionOf(request: object): Session {
    const handle = findSession(request);
    if (handle !== undefined) return handle;
    if (!this.options.enabled) throw new SessionsDisabledError();
    const response = (request as { res?: unknown }).res;
    if (response instanceof ServerResponse && request instanceof IncomingMessage) {
      return this.attach(request as HttpRequestLike, response, false);
    }
    throw new MissingSessionError();
  }

  /**
   * The session the request cookie names, as the persistence decodes it: an id (verified when
   * ids are signed), or with the cookie store the opened session. Anything else counts as no
   * cookie: a client fault, not an error, so the request goes on with a fresh session and a
   * debug line. @internal Gateways decode a socket's handshake cookie with it too.
   */
  readIncoming(request: HttpRequestLike): IncomingSession | undefined {
    const header = request.headers.cookie;
    const name = this.options.cookie.name;
    if (header === undefined || !header.includes(name)) return undefined;
    const value = parseCookie(header)[name];
    return value === undefined ? undefined : this.persistence.decode(value, Date.now());
  }
}

/** @internal Used by the module's own parts to tell a live handle from the disabled stand-in. */
export function isLiveSession(session: Session): session is SessionHandle {
  return session instanceof SessionHandle;
}
