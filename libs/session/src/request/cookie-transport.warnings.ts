import type { Logger } from '@nestjs/common';
import { type HttpRequestLike, isSecureRequest } from './http-adapter.js';

/** Host names a browser treats as secure even over plain http, so a Secure cookie still sticks. */
function isLoopbackHost(hostHeader: string): boolean {
  const host = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d*$/, '');
  const name = host.toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127(?:\.\d{1,3}){3}$/.test(name);
}

/** The first X-Forwarded-Proto value (the one the client's own hop set, for one proxy). */
function forwardedProto(request: HttpRequestLike): string | undefined {
  const header = request.headers['x-forwarded-proto'];
  const value = Array.isArray(header) ? header[0] : header;
  return value?.split(',')[0].trim().toLowerCase();
}

/**
 * Two deployment mistakes that silently log everyone out, each warned about once per
 * application, from the first request that shows it: a `secure: true` cookie served over plain
 * http to a host that is not loopback (browsers drop it), and `secure: 'auto'` behind a proxy
 * that terminates TLS (`X-Forwarded-Proto: https`) while trust proxy is off (the cookie goes
 * out without Secure). `pending` is the one flag a request tests; it turns off after the
 * warning, and from the start when `secure: false` leaves nothing to warn about. Internal.
 */
export class CookieTransportWarnings {
  /** Whether requests are still worth checking. */
  pending: boolean;

  constructor(
    private readonly secure: boolean | 'auto',
    private readonly logger: Logger,
  ) {
    this.pending = secure !== false;
  }

  /** Checks one request as the platform sees it (trust-proxy settings applied). */
  check(request: HttpRequestLike): void {
    if (isSecureRequest(request)) return;
    const forwardedHttps = forwardedProto(request) === 'https';
    if (this.secure === true) {
      // Over https as far as the browser can tell (a proxy terminated TLS): the cookie sticks.
      const host = request.headers.host;
      if (forwardedHttps || host === undefined || isLoopbackHost(host)) return;
      this.pending = false;
      this.logger.warn(
        `session cookie has secure: true, but a request for ${JSON.stringify(host.slice(0, 100))} arrived over plain http: ` +
          "browsers drop Secure cookies sent over http away from localhost, so visitors get a new session on every request; serve the app over https (behind a TLS-terminating proxy, turn trust proxy on) or set cookie secure: 'auto'",
      );
      return;
    }
    if (forwardedHttps) {
      this.pending = false;
      this.logger.warn(
        "session cookie has secure: 'auto', and a request arrived with X-Forwarded-Proto: https while the platform sees plain http: " +
          "session cookies go out without Secure behind this TLS-terminating proxy; turn trust proxy on (Express: app.set('trust proxy', 1); Fastify: new FastifyAdapter({ trustProxy: true })) or set cookie secure: true",
      );
    }
  }
}
