import type { IncomingMessage } from 'node:http';

/** A socket.io `Socket`, as far as the module reads it. */
export interface SocketIoClientLike {
  /** The handshake's HTTP request (the first polling request, or the upgrade request). */
  readonly request: IncomingMessage;
  emit(event: string, ...args: unknown[]): unknown;
  disconnect(close?: boolean): unknown;
}

/** A `ws` `WebSocket`, as far as the module reads it. */
export interface NativeWebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/**
 * A `ws` client: a numeric `readyState` and `send` (the WebSocket interface). A socket.io
 * `Socket` has neither; Nest's own exception filter tells them apart the same way.
 */
export function isNativeWebSocket(client: unknown): client is NativeWebSocketLike {
  const candidate = client as Partial<NativeWebSocketLike> | null;
  return typeof candidate?.readyState === 'number' && typeof candidate.send === 'function';
}

/** The handshake request a socket.io `Socket` keeps, or `undefined` for other clients. */
export function socketIoRequestOf(client: unknown): IncomingMessage | undefined {
  if (isNativeWebSocket(client)) return undefined;
  const request = (client as Partial<SocketIoClientLike> | null)?.request;
  return typeof request === 'object' && request !== null && typeof request.headers === 'object' ? request : undefined;
}

/** The `ws` close code for a denial of HTTP status `status` (4000-4999 is the private range). */
export function closeCodeFor(status: number): number {
  return 4000 + status;
}

/**
 * Sends `payload` as the `event` message the way Nest's gateways do: socket.io's `emit`, or for
 * `ws` the JSON `{ event, data }` that Nest's `WsAdapter` reads and writes.
 */
export function sendToClient(client: unknown, event: string, payload: unknown): void {
  if (isNativeWebSocket(client)) {
    // OPEN is 1; a closing or closed socket would throw.
    if (client.readyState === 1) client.send(JSON.stringify({ event, data: payload }));
    return;
  }
  const emit = (client as Partial<SocketIoClientLike> | null)?.emit;
  if (typeof emit === 'function') emit.call(client, event, payload);
}

/** Ends the connection: socket.io disconnects the client; `ws` closes with `code` (short `reason`). */
export function disconnectClient(client: unknown, code: number, reason: string): void {
  if (isNativeWebSocket(client)) {
    // A close reason is at most 123 bytes.
    client.close(code, Buffer.byteLength(reason) <= 123 ? reason : undefined);
    return;
  }
  const disconnect = (client as Partial<SocketIoClientLike> | null)?.disconnect;
  if (typeof disconnect === 'function') disconnect.call(client, true);
}
