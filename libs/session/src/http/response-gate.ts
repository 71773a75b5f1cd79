import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** What the gate needs from the request's session. */
export interface GatedSession {
  readonly isSettled: boolean;
  finalize(status: number): Promise<void>;
  setCookieHeaders(): string[];
  failureAnswered: boolean;
}

type Method = 'writeHead' | 'write' | 'end';
interface HeldCall {
  method: Method;
  args: unknown[];
}

const STORE_DOWN_BODY = JSON.stringify({
  statusCode: 503,
  message: 'Session store unavailable; please retry shortly.',
  error: 'Service Unavailable',
});

/** Adds our Set-Cookie values to what the response already carries, keeping the others. */
function addSetCookies(res: ServerResponse, args: unknown[], cookies: string[]): void {
  if (cookies.length === 0 || res.headersSent) return;
  // writeHead(status, [message,] headers): a headers object passed here overrides setHeader,
  // so a set-cookie entry in it must be extended in place.
  const last = args[args.length - 1];
  if (args.length > 1 && typeof last === 'object' && last !== null && !Array.isArray(last)) {
    const headers = last as OutgoingHttpHeaders;
    const name = Object.keys(headers).find((key) => key.toLowerCase() === 'set-cookie');
    if (name !== undefined) {
      headers[name] = [...toList(headers[name]), ...cookies];
      return;
    }
  }
  res.setHeader('Set-Cookie', [...toList(res.getHeader('Set-Cookie')), ...cookies]);
}

function toList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/**
 * Holds the response until the session is committed. Express and Fastify both end in Node's
 * `writeHead`/`write`/`end`, so patching those three on the raw response covers every way a
 * response leaves: a returned value, an exception filter, a redirect from an `@Res()` handler.
 * When the interceptor has already committed, the gate only adds the cookie and steps aside;
 * otherwise it queues the calls, commits, then replays them, so a client that follows a
 * redirect always finds the data. If the commit fails it answers 503 instead.
 */
export function gateResponse(res: ServerResponse, session: GatedSession): void {
  const original = { writeHead: res.writeHead, write: res.write, end: res.end };
  const held: HeldCall[] = [];

  const restore = (): void => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
  };

  const replay = (): void => {
    restore();
    const calls = held.splice(0);
    const head = calls.find((call) => call.method === 'writeHead');
    addSetCookies(res, head?.args ?? [], session.setCookieHeaders());
    for (const call of calls) {
      (original[call.method] as (...args: unknown[]) => unknown).apply(res, call.args);
    }
  };

  const answerFailure = (): void => {
    restore();
    held.length = 0;
    session.failureAnswered = true;
    if (res.headersSent) {
      // Too late for a status line: cut the response so the client cannot take it as a success.
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.statusCode = 503;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(STORE_DOWN_BODY));
    res.end(STORE_DOWN_BODY);
  };

  const hold = (method: Method) =>
    function (this: ServerResponse, ...args: unknown[]): unknown {
      // Settled before anything was held (the interceptor committed): step aside. Once calls
      // are held, later ones queue behind them even if the session settles meanwhile.
      if (session.isSettled && held.length === 0) {
        restore();
        addSetCookies(res, method === 'writeHead' ? args : [], session.setCookieHeaders());
        return (original[method] as (...a: unknown[]) => unknown).apply(res, args);
      }
      const first = held.length === 0;
      held.push({ method, args });
      if (first) {
        const status = method === 'writeHead' && typeof args[0] === 'number' ? args[0] : res.statusCode;
        session.finalize(status).then(replay, answerFailure);
      }
      return method === 'write' ? true : res;
    };

  res.writeHead = hold('writeHead') as ServerResponse['writeHead'];
  res.write = hold('write') as ServerResponse['write'];
  res.end = hold('end') as ServerResponse['end'];
}
