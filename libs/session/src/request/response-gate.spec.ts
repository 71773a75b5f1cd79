import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type GatedSession, gateResponse, isGated } from './response-gate.js';

/** A session with nothing to commit: the gate lets the first write through and releases. */
const idle: GatedSession = {
  settleIfIdle: () => true,
  finalize: () => Promise.resolve(),
  setCookieHeaders: () => [],
};

/** Serves one request with `handle` and returns the body the client read. */
async function serveOnce(handle: (res: ServerResponse) => void): Promise<string> {
  const server: Server = createServer((_req: IncomingMessage, res: ServerResponse) => handle(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/`);
    return await response.text();
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe("gateResponse on a response of Node's own class", () => {
  it('a writer taken while the response was held still reaches the writer it replaced', async () => {
    const calls: string[] = [];
    const body = await serveOnce((res) => {
      // Something wrapped `end` before the session gated the response…
      const platformEnd = res.end;
      res.end = function (this: ServerResponse, ...args: unknown[]) {
        calls.push('wrapper');
        return (platformEnd as (...a: unknown[]) => ServerResponse).apply(this, args);
      } as ServerResponse['end'];
      gateResponse(res, idle);
      expect(isGated(res)).toBe(true);
      // …and something else took `end` while the gate held it.
      const taken = res.end;
      res.writeHead(200, { 'content-type': 'text/plain' });
      expect(isGated(res)).toBe(false);
      (taken as (...a: unknown[]) => ServerResponse).call(res, 'done');
    });
    expect(body).toBe('done');
    expect(calls).toEqual(['wrapper']);
  });

  it('leaves ServerResponse.prototype alone', async () => {
    const before = { writeHead: ServerResponse.prototype.writeHead, end: ServerResponse.prototype.end };
    await serveOnce((res) => {
      gateResponse(res, idle);
      res.end('ok');
    });
    expect(ServerResponse.prototype.writeHead).toBe(before.writeHead);
    expect(ServerResponse.prototype.end).toBe(before.end);
  });
});
