export { SessionModule } from './session.module.js';
export type { SessionModuleExtras } from './session.module-definition.js';
export type { SessionCookieOptions, SessionModuleOptions } from './session-options.interface.js';
export { SessionOptionsError } from './session-options.js';
export { SessionInterceptor } from './session.interceptor.js';
export { Session } from './session.decorator.js';
export type { SessionData, SessionKey, SessionValue } from './session.interface.js';
export type { SessionManager } from './session.manager.js';
export { SessionService } from './session.service.js';
export { MissingSessionError, SessionStoreUnavailableException, SessionValueError, SessionsDisabledError } from './session.exceptions.js';
export { SessionStore } from './stores/session.store.js';
export type { SessionWrite, StoredSession } from './stores/session.store.js';
export { MemoryStore } from './stores/memory.store.js';
export type { MemoryStoreOptions } from './stores/memory.store.js';
export { RedisStore } from './stores/redis.store.js';
export type { RedisStoreOptions } from './stores/redis.store.js';
export { PostgresStore } from './stores/postgres.store.js';
export type { PostgresStoreOptions } from './stores/postgres.store.js';
export { NovaStore, fromNovaStore } from './stores/nova.store.js';
export type { NovaStoreBackend } from './stores/nova.store.js';
export { ExpressSessionStoreAdapter, fromExpressSessionStore } from './stores/express-session.store.js';
export type { ExpressSessionStoreAdapterOptions, ExpressSessionStoreLike } from './stores/express-session.store.js';
// Security: Nova's route security functions as a Nest guard.
export { SessionAuthGuard } from './session-auth.guard.js';
export { Security } from './security.decorator.js';
export { AuthData } from './auth-data.decorator.js';
export { deny, redirectTo, SecurityDenial, SecurityRedirect } from './security.results.js';
export type { DenyOptions, SecurityDenialBody } from './security.results.js';
export type {
  AuthDataObject,
  SecurityCheck,
  SecurityCheckType,
  SecurityContext,
  SecurityFn,
  SecurityParams,
  SecurityResult,
  SecuritySetting,
} from './security.interface.js';
export { SecurityDeniedException, SecurityRedirectException, SessionUnauthorizedException } from './security.exceptions.js';
export type { SecurityDeniedOptions } from './security.exceptions.js';
export { SecurityDeniedFilter } from './security-denied.filter.js';
// Cookie lifecycle: the stateless cookie store and its size limit.
export { CookieStore } from './stores/cookie.store.js';
export type { CookieStoreOptions } from './stores/cookie.store.js';
export { SessionAlreadyCommittedError, SessionTooLargeError } from './session.exceptions.js';
// Scale-out: RedisStore's per-process near-cache.
export type { RedisLocalCacheOptions, RedisLocalCacheStatus } from './stores/redis.store.js';
