/**
 * Real WebSocket clients for the gateway suites: socket.io-client against Nest's IoAdapter, and
 * `ws` against its WsAdapter, behind one small interface (send an event, await the next message
 * of an event, await the disconnection).
 */
import { type Socket, io } from 'socket.io-client';
import WebSocket from 'ws';

/** The two WebSocket adapters of `@nestjs/websockets` that the suites run on. */
export const SOCKET_ADAPTERS = ['socket.io', 'ws'] as const;
export type SocketAdapter = (typeof SOCKET_ADAPTERS)[number];

/** How a connection ended: `ws` reports a close code and reason, socket.io a reason string. */
export interface Closed {
  code?: number;
  reason: string;
}

export interface TestSocket {
  send(event: string, data?: unknown): void;
  /** The next message of `event` not yet taken (queued when it came before the call). */
  next<T = unknown>(event: string, timeoutMs?: number): Promise<T>;
  /** Resolves when the server ends the connection. */
  readonly closed: Promise<Closed>;
  close(): void;
}

class MessageQueue {
  private readonly queued: Array<{ event: string; data: unknown }> = [];
  private readonly waiting: Array<{ event: string; resolve: (data: unknown) => void }> = [];

  push(event: string, data: unknown): void {
    const index = this.waiting.findIndex((waiter) => waiter.event === event);
    if (index >= 0) this.waiting.splice(index, 1)[0].resolve(data);
    else this.queued.push({ event, data });
  }

  next<T>(event: string, timeoutMs: number): Promise<T> {
    const index = this.queued.findIndex((message) => message.event === event);
    if (index >= 0) return Promise.resolve(this.queued.splice(index, 1)[0].data as T);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        event,
        resolve: (data: unknown) => {
          clearTimeout(timer);
          resolve(data as T);
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new Error(`no "${event}" message within ${timeoutMs} ms (queued: ${this.queued.map((m) => m.event).join(', ') || 'none'})`));
      }, timeoutMs);
      this.waiting.push(waiter);
    });
  }
}

/**
 * Connects to the app at `baseUrl` (`http://host:port`) with `cookie` as the handshake's Cookie
 * header, and `origin` as its Origin (as a browser page would send). socket.io: namespace `path`
 * over the websocket transport; ws: the gateway at `path`.
 */
export function connectSocket(
  adapter: SocketAdapter,
  baseUrl: string,
  options: { cookie?: string; path?: string; origin?: string } = {},
): TestSocket {
  const headers: Record<string, string> = {};
  if (options.cookie !== undefined) headers.cookie = options.cookie;
  if (options.origin !== undefined) headers.origin = options.origin;
  const queue = new MessageQueue();
  if (adapter === 'socket.io') {
    const socket: Socket = io(`${baseUrl}${options.path ?? '/'}`, {
      transports: ['websocket'],
      extraHeaders: headers,
      forceNew: true,
      reconnection: false,
    });
    socket.onAny((event: string, data: unknown) => queue.push(event, data));
    const closed = new Promise<Closed>((resolve) => socket.on('disconnect', (reason) => resolve({ reason })));
    return {
      send: (event, data) => void socket.emit(event, data),
      next: (event, timeoutMs = 3000) => queue.next(event, timeoutMs),
      closed,
      close: () => void socket.disconnect(),
    };
  }
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${options.path ?? '/'}`, { headers });
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  opened.catch(() => undefined);
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as { event: string; data: unknown };
    queue.push(message.event, message.data);
  });
  const closed = new Promise<Closed>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return {
    send: (event, data) => void opened.then(() => socket.send(JSON.stringify({ event, data }))),
    next: (event, timeoutMs = 3000) => queue.next(event, timeoutMs),
    closed,
    close: () => socket.close(),
  };
}
