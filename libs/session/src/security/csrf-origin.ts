import type { IncomingHttpHeaders } from 'node:http';
import { SessionOptionsError } from '../session.exceptions.js';

/** Options of `SessionCsrfGuard`, given as `SessionModule.forRoot(store, { csrf: { ... } })`. */
export interface SessionCsrfOptions {
  /**
   * Origins other than the request's own whose unsafe requests are accepted (with a valid
   * token, as always): a front end on another host, e.g. `['https://app.example.com']`. Each
   * is a scheme, a host and an optional port, nothing else; compared exactly (a default port is
   * the same as none). A request from a listed origin passes the `Sec-Fetch-Site: cross-site`
   * check too. Default: none.
   */
  trustedOrigins?: readonly string[];
  /**
   * Refuse an unsafe request that carries neither `Origin` nor `Sec-Fetch-Site`. Browsers in
   * use send at least one of them on every POST, so such a request comes from a client that is
   * not a browser (curl, a server, a native app), which a forged cross-site request cannot be;
   * by default the token alone decides for it. `true` suits an app that only browsers use.
   * Default: `false`.
   */
  requireOrigin?: boolean;
  /**
   * Refuse a WebSocket handshake that a browser made from another site's page (cross-site
   * WebSocket hijacking): its `Origin` must name this server's host (or a `trustedOrigins`
   * entry). No CORS setting covers WebSocket handshakes, and the session cookie goes along
   * with them, so without this check any page could talk to a gateway as its visitor. A
   * gateway served on another port than its pages needs that page's origin in
   * `trustedOrigins`. Handshakes without `Origin` (clients that are no browser) pass.
   * Default: `true`.
   */
  checkSocketOrigin?: boolean;
}

/** `SessionCsrfOptions` after checks. Internal. */
export interface ResolvedCsrfOptions {
  /** Serialized origins (`https://app.example.com`), as `URL.origin` writes them. */
  trustedOrigins: ReadonlySet<string>;
  requireOrigin: boolean;
  checkSocketOrigin: boolean;
}

/** The serialized origin of `value` (`scheme://host[:port]`), or `undefined` when it is none. */
function serializedOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return url.origin;
}

/**
 * The origin `entry` names when it is nothing more than an origin (a trailing `/` allowed):
 * a path, a query or credentials would suggest a match that origins never make.
 */
function bareOrigin(entry: string): string | undefined {
  const origin = serializedOrigin(entry);
  if (origin === undefined) return undefined;
  const url = new URL(entry);
  const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  return bare && !entry.endsWith('?') && !entry.endsWith('#') ? origin : undefined;
}

/** Checks the `csrf` option at start-up, one sentence per fault. Internal. */
export function resolveCsrfOptions(options: SessionCsrfOptions | undefined): ResolvedCsrfOptions {
  const trusted = new Set<string>();
  const listed: unknown = options?.trustedOrigins ?? [];
  if (!Array.isArray(listed)) {
    throw new SessionOptionsError("session csrf trustedOrigins must be an array of origins such as 'https://app.example.com'");
  }
  for (const entry of listed as unknown[]) {
    const origin = typeof entry === 'string' ? bareOrigin(entry) : undefined;
    if (origin === undefined) {
      throw new SessionOptionsError(
        `session csrf trustedOrigins entry ${JSON.stringify(entry)} is not an origin; write it as scheme://host[:port], e.g. 'https://app.example.com'`,
      );
    }
    trusted.add(origin);
  }
  const requireOrigin = options?.requireOrigin ?? false;
  if (typeof requireOrigin !== 'boolean') {
    throw new SessionOptionsError(`session csrf requireOrigin must be true or false, got ${String(requireOrigin)}`);
  }
  const checkSocketOrigin = options?.checkSocketOrigin ?? true;
  if (typeof checkSocketOrigin !== 'boolean') {
    throw new SessionOptionsError(`session csrf checkSocketOrigin must be true or false, got ${String(checkSocketOrigin)}`);
  }
  return { trustedOrigins: trusted, requireOrigin, checkSocketOrigin };
}

/** The request fields the origin check reads, present on Express's and Fastify's requests. */
export interface OriginCheckedRequest {
  headers: IncomingHttpHeaders;
  /** `'https'` or `'http'` as the platform sees it (trust proxy applied). */
  protocol?: string;
  /** `Host` (or with trust proxy `X-Forwarded-Host`), port included, as the platform sees it. */
  host?: string;
}

/** Why the origin check refused a request; `undefined` when it passed. Internal. */
export type OriginRefusal = { reason: 'cross-origin'; detail: string } | undefined;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** The request's own origin as the platform sees it (trust proxy applied), or `undefined`. */
export function ownOrigin(request: OriginCheckedRequest): string | undefined {
  const host = typeof request.host === 'string' && request.host !== '' ? request.host : header(request.headers, 'host');
  if (host === undefined) return undefined;
  const protocol = request.protocol === 'https' ? 'https' : 'http';
  return serializedOrigin(`${protocol}://${host}`);
}

/**
 * The Origin / `Sec-Fetch-Site` half of the CSRF check: a request from another origin (by its
 * `Origin`), or that its browser calls `cross-site`, is refused unless its origin is trusted.
 * `Origin: null` says only that the browser withheld the origin: it does so for a sandboxed
 * frame or a redirect across origins, but also for the site's own form posts when its pages
 * send `Referrer-Policy: no-referrer` (helmet's default). So it passes only with
 * `Sec-Fetch-Site: same-origin`, and the token still decides. A request with neither header
 * passes here unless `requireOrigin` is set: the token still decides. Internal.
 */
export function checkOrigin(request: OriginCheckedRequest, options: ResolvedCsrfOptions): OriginRefusal {
  const originHeader = header(request.headers, 'origin');
  const fetchSite = header(request.headers, 'sec-fetch-site')?.toLowerCase();
  if (originHeader === undefined) {
    if (fetchSite === 'cross-site') {
      return { reason: 'cross-origin', detail: 'the browser marked it Sec-Fetch-Site: cross-site' };
    }
    if (fetchSite === undefined && options.requireOrigin) {
      return { reason: 'cross-origin', detail: 'it carries neither an Origin nor a Sec-Fetch-Site header' };
    }
    return undefined;
  }
  if (originHeader === 'null') {
    return fetchSite === 'same-origin'
      ? undefined
      : { reason: 'cross-origin', detail: 'its Origin is null and the browser did not mark it Sec-Fetch-Site: same-origin' };
  }
  const origin = serializedOrigin(originHeader);
  if (origin === undefined) {
    return { reason: 'cross-origin', detail: 'its Origin header names no web origin' };
  }
  if (options.trustedOrigins.has(origin)) return undefined;
  if (fetchSite === 'cross-site') {
    return { reason: 'cross-origin', detail: 'the browser marked it Sec-Fetch-Site: cross-site' };
  }
  const own = ownOrigin(request);
  if (origin === own) return undefined;
  // Same host, other scheme: the usual sign of a TLS-terminating proxy the platform does not trust.
  const hint =
    own !== undefined && new URL(own).host === new URL(origin).host
      ? ' (behind a TLS-terminating proxy, enable trust proxy so that the request is seen as https)'
      : ' (list it in the csrf trustedOrigins option if it is yours)';
  return { reason: 'cross-origin', detail: `its Origin ${origin} is not this site's origin ${own ?? '(no Host header)'}${hint}` };
}

/**
 * The origin check of a WebSocket handshake, against cross-site WebSocket hijacking: a browser
 * sends `Origin` on every handshake, and a page can set neither it nor `X-Forwarded-Host`. So
 * the Origin's host must be the host the handshake was sent to (`X-Forwarded-Host` when a proxy
 * set it, else `Host`), or the origin is trusted. The scheme is not compared: the platform's
 * trust-proxy view is not known here, and a page cannot choose its scheme anyway. `Origin: null`
 * and `Sec-Fetch-Site: cross-site` are refused; no `Origin` (no browser) passes. Internal.
 */
export function checkHandshakeOrigin(headers: IncomingHttpHeaders, options: ResolvedCsrfOptions): OriginRefusal {
  if (!options.checkSocketOrigin) return undefined;
  const originHeader = header(headers, 'origin');
  const fetchSite = header(headers, 'sec-fetch-site')?.toLowerCase();
  if (originHeader === undefined) {
    return fetchSite === 'cross-site' ? { reason: 'cross-origin', detail: 'the browser marked it Sec-Fetch-Site: cross-site' } : undefined;
  }
  const origin = originHeader === 'null' ? undefined : serializedOrigin(originHeader);
  if (origin === undefined) return { reason: 'cross-origin', detail: 'its Origin header names no web origin' };
  if (options.trustedOrigins.has(origin)) return undefined;
  const target = header(headers, 'x-forwarded-host')?.split(',')[0].trim() || header(headers, 'host');
  const { protocol, host } = new URL(origin);
  // Parsed with the Origin's scheme, so that a default port is the same as none.
  const targetHost = target === undefined ? undefined : serializedOrigin(`${protocol}//${target}`);
  if (fetchSite !== 'cross-site' && targetHost !== undefined && new URL(targetHost).host === host) return undefined;
  return {
    reason: 'cross-origin',
    detail:
      `the WebSocket handshake's Origin ${origin} is not a page of ${target ?? 'this server (no Host header)'}` +
      ' (list it in the csrf trustedOrigins option if it is yours, e.g. pages served from another port)',
  };
}
