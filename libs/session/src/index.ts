/**
 * @novanest/session: server-side sessions for NestJS.
 *
 * The core entry point: the module, the session handle's types, security, and the stores that
 * need no driver. `RedisStore` and `PostgresStore` have entry points of their own
 * (`@novanest/session/redis`, `@novanest/session/postgres`), so an app that uses neither needs
 * neither `ioredis` nor `pg`, nor their types.
 */
export { SessionModule } from './session.module.js';
export type { SessionModuleExtras } from './session.module-definition.js';
export type { SessionCookieOptions, SessionModuleOptions } from './session-options.interface.js';
export { SessionOptionsError } from './session-options.js';
export { SessionInterceptor } from './request/session.interceptor.js';
export { SessionMiddleware } from './request/session.middleware.js';
export { Session } from './session.decorator.js';
export type { SessionData, SessionKey, SessionValue } from './session/session.interface.js';
export { SessionService } from './session.service.js';
export { MissingSessionError, SessionStoreUnavailableException, SessionValueError, SessionsDisabledError } from './session.exceptions.js';
export { SessionStore } from './stores/session.store.js';
export type { SessionWrite, StoredSession } from './stores/session.store.js';
export { MemoryStore } from './stores/memory/memory.store.js';
export type { MemoryStoreOptions } from './stores/memory/memory.store.js';
export { NovaStore, fromNovaStore } from './stores/nova/nova.store.js';
export type { NovaStoreBackend } from './stores/nova/nova.store.js';
export { ExpressSessionStoreAdapter, fromExpressSessionStore } from './stores/express-session/express-session.store.js';
export type { ExpressSessionStoreAdapterOptions, ExpressSessionStoreLike } from './stores/express-session/express-session.store.js';
// Security: Nova's route security functions as a Nest guard.
export { SessionAuthGuard } from './security/session-auth.guard.js';
export { Security } from './security/security.decorator.js';
export { AuthData } from './security/auth-data.decorator.js';
export { deny, redirectTo, SecurityDenial, SecurityRedirect } from './security/security.results.js';
export type { DenyOptions, SecurityDenialBody } from './security/security.results.js';
export type {
  AuthDataObject,
  SecurityCheck,
  SecurityCheckType,
  SecurityContext,
  SecurityFn,
  SecurityParams,
  SecurityResult,
  SecuritySetting,
} from './security/security.interface.js';
export { SecurityDeniedException, SecurityRedirectException, SessionUnauthorizedException } from './security/security.exceptions.js';
export type { SecurityDeniedOptions } from './security/security.exceptions.js';
export { SecurityDeniedFilter } from './security/security-denied.filter.js';
// Cookie lifecycle: the stateless cookie store and its size limit.
export { CookieStore } from './stores/cookie/cookie.store.js';
export type { CookieStoreOptions } from './stores/cookie/cookie.store.js';
export { SessionAlreadyCommittedError, SessionTooLargeError } from './session.exceptions.js';
// GraphQL: what a resolver's security denial becomes (a field error with a code).
export { SecurityDeniedGraphQLError } from './security/security-denied.graphql-error.js';
export type { SecurityDeniedGraphQLExtensions } from './security/security-denied.graphql-error.js';
// WebSockets: the session of a gateway's socket (socket.io and ws adapters).
export { WsSessionService } from './websocket/ws-session.service.js';
export type { WsHandshake } from './websocket/ws-session.service.js';
export { WsSessionError } from './websocket/ws-session.exceptions.js';
// Store deadline and start-up check (storeTimeout, failFast).
export { SessionStoreCheckError } from './session.exceptions.js';
export { SessionStoreTimeoutError } from './persistence/store-deadline.js';
// Compatibility: an express-session-style req.session for Passport and the middleware around it.
export { expressSession } from './compat/express-session.middleware.js';
export type {
  ExpressSession,
  ExpressSessionApi,
  ExpressSessionCallback,
  ExpressSessionMiddleware,
} from './compat/express-session.middleware.js';
export type { CompatSessionCookie } from './compat/compat-loader.js';
export { FastifyCompatSession, fastifySession } from './compat/fastify-session.plugin.js';
export type { FastifyInstanceLike, FastifyReplyLike, FastifyRequestLike, FastifySessionPlugin } from './compat/fastify-session.plugin.js';
// Atomic per-key update: session.update(key, fn), session.increment(key), SessionStore.compareAndSet.
export type { SessionUpdateOptions } from './session/session-update.js';
export type { CompareAndSetResult } from './stores/session.store.js';
export { SessionUpdateConflictException, SessionUpdateUnsupportedError } from './session.exceptions.js';
// A user's sessions: bindUser, list and revoke (SessionService), the store contract's index.
export { SessionUserIndexUnsupportedError } from './users/user-sessions.js';
export type { UserSessionInfo, UserSessionMetadata } from './users/user-sessions.js';
export { USER_BINDING_KEY, boundUserOf } from './stores/session.store.js';
export type { SessionUserIndexEntry, UserSessionRecord } from './stores/session.store.js';
// CSRF tied to the session, login without carry-over, flash on security redirects (issue 14).
export { SessionCsrfGuard } from './security/session-csrf.guard.js';
export { SkipCsrf } from './security/skip-csrf.decorator.js';
export { SessionCsrfException } from './security/csrf.exceptions.js';
export type { SessionCsrfFailure } from './security/csrf.exceptions.js';
export type { SessionCsrfOptions } from './security/csrf-origin.js';
export type { RegenerateOptions } from './session/session.interface.js';
export type { RedirectToOptions } from './security/security.results.js';
export type { SecurityRedirectOptions } from './security/security.exceptions.js';
