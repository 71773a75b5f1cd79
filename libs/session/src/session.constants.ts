/** Injection token of the resolved (validated, defaulted) module options. Internal. */
export const SESSION_OPTIONS = Symbol('novanest:session-options');

/** Property under which the per-request session handle hangs on the request object. Internal. */
export const SESSION_HANDLE = Symbol('novanest:session-handle');

/** Name of the logger every part of the module writes to. */
export const SESSION_LOGGER_CONTEXT = 'SessionModule';
