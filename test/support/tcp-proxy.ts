import { type Server, type Socket, connect, createServer } from 'node:net';
import { freePort } from './services.js';

/**
 * A loopback TCP proxy in front of a real server, to take that server "down" for one client
 * and bring it back without touching the server: `down()` closes the listener and resets every
 * open connection (as a crashed server would), `up()` listens again on the same port.
 * `pause()` is the other kind of outage, a server (or network) that stops answering: every
 * connection stays open and new ones are accepted, but no byte is forwarded either way;
 * `resume()` forwards again, what was held back first, as TCP delivers after a stall.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Each client connection with its upstream connection, to stop and restart forwarding. */
  private readonly pairs = new Set<[client: Socket, upstream: Socket]>();
  private paused = false;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.up();
    return proxy;
  }

  /**
   * A proxy in front of the server a service URL names (`defaultPort` when the URL has none),
   * with that URL (`target`) and the same URL pointed through the proxy (`viaProxy`).
   */
  static async inFrontOf(url: string, defaultPort: number): Promise<{ proxy: TcpProxy; target: URL; viaProxy: URL }> {
    const target = new URL(url);
    const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || defaultPort) });
    const viaProxy = new URL(target.href);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    return { proxy, target, viaProxy };
  }

  up(): Promise<void> {
    if (this.server !== undefined) return Promise.resolve();
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      this.track(client);
      this.track(upstream);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.on('close', () => this.pairs.delete(pair));
      if (this.paused) {
        client.pause();
        upstream.pause();
      } else {
        forward(pair);
      }
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops forwarding, on open connections and new ones alike; nothing is closed or lost. */
  pause(): void {
    this.paused = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Forwards again, starting with whatever was held back while paused. */
  resume(): void {
    this.paused = false;
    for (const pair of this.pairs) forward(pair);
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    this.pairs.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}

function forward([client, upstream]: [Socket, Socket]): void {
  client.pipe(upstream);
  upstream.pipe(client);
}
