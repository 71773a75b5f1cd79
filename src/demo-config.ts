import type { SessionCookieOptions } from '@novanest/session';

/** The demo's settings that depend on where it runs. */
export interface DemoEnvironment {
  NODE_ENV?: string;
  TRUST_PROXY?: string;
}

/**
 * The session cookie: in production (`NODE_ENV=production`) `__Host-session_id`, sent over
 * HTTPS only (`secure: true`), so it cannot be set by a sibling domain or read over plain HTTP;
 * elsewhere `session_id` with `secure: 'auto'`, so the demo works on http://localhost.
 */
export function cookieFromEnv(env: DemoEnvironment): SessionCookieOptions {
  return env.NODE_ENV === 'production' ? { name: '__Host-session_id', secure: true } : { name: 'session_id', secure: 'auto' };
}

/** The name of the session cookie in this environment. */
export function cookieNameFromEnv(env: DemoEnvironment): string {
  return cookieFromEnv(env).name ?? 'session_id';
}

/** Trust-proxy setting as both platforms take it: off, on, a hop count, or proxy addresses. */
export type TrustProxy = boolean | number | string[];

const TRUST_PROXY_USAGE =
  'TRUST_PROXY must be true, false, a number of proxy hops, or comma-separated proxy addresses (IPs or CIDR ranges, e.g. 10.0.0.0/8)';

/**
 * TRUST_PROXY: whom to believe about the client's protocol and address (`X-Forwarded-Proto`,
 * `X-Forwarded-For`, `X-Forwarded-Host`). Behind a TLS-terminating proxy the demo must trust
 * it, or it sees plain HTTP: a `secure` cookie is then refused by the platform's view and the
 * CSRF origin check sees `http://` while the browser says `https://`. Unset or `false`: trust
 * nobody. `true`: trust every hop (only when nothing can reach the app but the proxy). A
 * number: trust that many hops. Addresses or CIDR ranges, comma-separated: trust those.
 */
export function trustProxyFromEnv(env: DemoEnvironment): TrustProxy {
  const value = env.TRUST_PROXY?.trim();
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^[0-9]+$/.test(value)) return Number(value);
  const addresses = value.split(',').map((address) => address.trim());
  if (addresses.every((address) => /^[0-9A-Fa-f.:]+(\/[0-9]{1,3})?$/.test(address))) return addresses;
  throw new Error(`${TRUST_PROXY_USAGE}, got ${JSON.stringify(env.TRUST_PROXY)}`);
}
