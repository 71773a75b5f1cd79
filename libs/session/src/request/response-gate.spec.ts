import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type GatedSession,
  gateResponse,
  isGated,
  platformResponsePrototype,
  releaseResponsePrototype,
  retainResponsePrototype,
} from './response-gate.js';

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

describe('gated writers on a platform prototype, released at shutdown', () => {
  /** A platform prototype as Express makes one per application: it inherits Node's writers. */
  function platformPrototype(): object {
    return Object.create(ServerResponse.prototype) as object;
  }

  function ownWriters(proto: object): string[] {
    return ['writeHead', 'write', 'end', 'flushHeaders'].filter((method) => Object.prototype.hasOwnProperty.call(proto, method));
  }

  /** Serves one request whose response has `proto` as its prototype, gated by `session`. */
  function serveWith(proto: object, session: GatedSession, body = 'ok'): Promise<string> {
    return serveOnce((res) => {
      Object.setPrototypeOf(res, proto);
      gateResponse(res, session);
      res.end(body);
    });
  }

  it('puts the inherited writers back when the last application using the prototype shuts down', async () => {
    const proto = platformPrototype();
    expect(platformResponsePrototype({ response: proto })).toBe(proto);
    retainResponsePrototype(proto);
    retainResponsePrototype(proto);
    expect(await serveWith(proto, idle)).toBe('ok');
    expect(ownWriters(proto)).toEqual(['writeHead', 'write', 'end', 'flushHeaders']);

    releaseResponsePrototype(proto);
    // Another application still serves through it: still gated.
    expect(ownWriters(proto)).toHaveLength(4);
    expect(await serveWith(proto, idle, 'still')).toBe('still');

    releaseResponsePrototype(proto);
    expect(ownWriters(proto)).toEqual([]);
    expect((proto as ServerResponse).end).toBe(ServerResponse.prototype.end);
    // A response that arrives later is gated again (the commit is never skipped).
    expect(await serveWith(proto, idle, 'again')).toBe('again');
    expect(ownWriters(proto)).toHaveLength(4);
  });

  it('waits for a held response before it puts the writers back', async () => {
    const proto = platformPrototype();
    retainResponsePrototype(proto);
    let commit!: () => void;
    const committing: GatedSession = {
      settleIfIdle: () => false,
      finalize: () => new Promise<void>((resolve) => (commit = resolve)),
      setCookieHeaders: () => ['sid=1; Path=/'],
    };
    let released!: () => void;
    const shutDown = new Promise<void>((resolve) => (released = resolve));
    const served = serveOnce((res) => {
      Object.setPrototypeOf(res, proto);
      gateResponse(res, committing);
      res.end('held');
      expect(isGated(res)).toBe(true);
      // The application shuts down while the response waits for its commit.
      releaseResponsePrototype(proto);
      expect(ownWriters(proto)).toHaveLength(4);
      released();
    });
    await shutDown;
    commit();
    expect(await served).toBe('held');
    expect(ownWriters(proto)).toEqual([]);
  });

  it('leaves a writer that someone put over the gated one', async () => {
    const proto = platformPrototype();
    retainResponsePrototype(proto);
    expect(await serveWith(proto, idle)).toBe('ok');
    const gatedEnd = (proto as ServerResponse).end;
    const wrapper = function (this: ServerResponse, ...args: unknown[]) {
      return (gatedEnd as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['end'];
    (proto as ServerResponse).end = wrapper;
    releaseResponsePrototype(proto);
    expect((proto as ServerResponse).end).toBe(wrapper);
    expect(ownWriters(proto)).toEqual(['end']);
    // The gated writer under it passes calls on now that nothing holds the response.
    expect(
      await serveOnce((res) => {
        Object.setPrototypeOf(res, proto);
        res.end('through');
      }),
    ).toBe('through');
  });

  it('finds no platform prototype where there is none (Fastify, no adapter)', () => {
    expect(platformResponsePrototype(undefined)).toBeUndefined();
    expect(platformResponsePrototype({})).toBeUndefined();
    expect(platformResponsePrototype({ response: {} })).toBeUndefined();
  });
});
