import type { ServerResponse } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { parseCookie } from 'cookie';
import { SessionCookieWriter } from '../cookie/session-cookie.js';
import { createSessionPersistence } from '../persistence/session-persistence.factory.js';
import type { IncomingSession, SessionPersistence } from '../persistence/session-persistence.js';
import { type HttpRequestLike, type HttpResponseLike, isSecureRequest, rawResponse } from './http-adapter.js';
import { gateResponse } from './response-gate.js';
import { SESSION_HANDLE, SESSION_LOGGER_CONTEXT, SESSION_OPTIONS } from '../session.constants.js';
import { MissingSessionError, SessionsDisabledError } from '../session.exceptions.js';
import { SessionHandle } from '../session/session.handle.js';
import type { Session } from '../session/session.interface.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { SessionStore } from '../stores/session.store.js';

type RequestWithSession = HttpRequestLike & { [SESSION_HANDLE]?: Session };

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

  /** @internal */
  constructor(@Inject(SESSION_OPTIONS) options: ResolvedSessionOptions, store: SessionStore) {
    this.options = options;
    this.store = store;
    this.cookies = new SessionCookieWriter(options);
    this.persistence = createSessionPersistence(store, options, this.cookies, this.logger);
  }

  /** @internal The request's session, created (without store I/O) on the first call. */
  attach(request: HttpRequestLike, response: HttpResponseLike): Session {
    const carrier = request as RequestWithSession;
    const existing = carrier[SESSION_HANDLE];
    if (existing !== undefined) return existing;
    if (!this.options.enabled) {
      carrier[SESSION_HANDLE] = DISABLED_SESSION;
      return DISABLED_SESSION;
    }
    const incoming = this.readIncoming(request);
    const raw = rawResponse(response);
    // A visitor whose cookie is valid and current needs no Set-Cookie unless the session is
    // used, so its response is only gated from the first use; every other visitor gets (or
    // renews) a cookie, so the gate goes on at once.
    const lazy = incoming !== undefined && !incoming.stale;
    const handle = new SessionHandle(
      this,
      incoming,
      () => isSecureRequest(request),
      lazy ? (used) => this.gateFromFirstUse(raw, used) : undefined,
    );
    carrier[SESSION_HANDLE] = handle;
    if (!lazy) gateResponse(raw, handle);
    return handle;
  }

  private gateFromFirstUse(raw: ServerResponse, handle: SessionHandle): void {
    // First used after the response left: reads still work, changes are refused.
    if (raw.headersSent || raw.writableEnded) handle.discard();
    else gateResponse(raw, handle);
  }

  /** @internal The request's session; throws `MissingSessionError` when the module never saw the request. */
  sessionOf(request: object): Session {
    const handle = (request as RequestWithSession)[SESSION_HANDLE];
    if (handle === undefined) {
      if (!this.options.enabled) throw new SessionsDisabledError();
      throw new MissingSessionError();
    }
    return handle;
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
