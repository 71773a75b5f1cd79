/** Property under which the guard leaves the auth data on the request. Internal. */
export const AUTH_DATA = Symbol('novanest:auth-data');

/** Logger context of `SessionAuthGuard`. */
export const SECURITY_LOGGER_CONTEXT = 'SessionAuthGuard';
