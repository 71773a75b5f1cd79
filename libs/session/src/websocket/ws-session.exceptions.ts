/**
 * A session call that a socket cannot carry out: it needs a new cookie (which only an HTTP
 * response can send), a session the store does not hold, or a session this socket already
 * destroyed. Nothing was written. The message says what to do instead.
 */
export class WsSessionError extends Error {
  override readonly name = 'WsSessionError';
}
