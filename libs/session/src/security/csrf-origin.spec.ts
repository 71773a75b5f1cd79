import { SessionOptionsError } from '../session.exceptions.js';
import { type OriginCheckedRequest, checkHandshakeOrigin, checkOrigin, ownOrigin, resolveCsrfOptions } from './csrf-origin.js';

const defaults = resolveCsrfOptions(undefined);

function req(headers: Record<string, string>, protocol = 'http', host = 'app.test:3000'): OriginCheckedRequest {
  return { headers: { host, ...headers }, protocol, host };
}

describe('CSRF origin check', () => {
  it("the request's own origin comes from the platform's protocol and host", () => {
    expect(ownOrigin(req({}))).toBe('http://app.test:3000');
    expect(ownOrigin(req({}, 'https', 'App.Test:443'))).toBe('https://app.test');
    expect(ownOrigin({ headers: { host: 'h.test' } })).toBe('http://h.test');
    expect(ownOrigin({ headers: {} })).toBeUndefined();
  });

  it('passes the same origin, with or without Sec-Fetch-Site same-origin', () => {
    expect(checkOrigin(req({ origin: 'http://app.test:3000' }), defaults)).toBeUndefined();
    expect(checkOrigin(req({ origin: 'http://app.test:3000', 'sec-fetch-site': 'same-origin' }), defaults)).toBeUndefined();
    expect(checkOrigin(req({ origin: 'https://app.test' }, 'https', 'app.test'), defaults)).toBeUndefined();
  });

  it('refuses another origin, another port, another scheme, and Origin: null', () => {
    for (const origin of ['http://evil.test', 'http://app.test:3001', 'https://app.test:3000', 'null', 'not a url']) {
      expect(checkOrigin(req({ origin }), defaults)?.reason).toBe('cross-origin');
    }
  });

  it('Origin: null (a no-referrer page posting to itself) passes only with Sec-Fetch-Site: same-origin', () => {
    expect(checkOrigin(req({ origin: 'null', 'sec-fetch-site': 'same-origin' }), defaults)).toBeUndefined();
    for (const fetchSite of ['same-site', 'cross-site', 'none']) {
      expect(checkOrigin(req({ origin: 'null', 'sec-fetch-site': fetchSite }), defaults)?.detail).toBe(
        'its Origin is null and the browser did not mark it Sec-Fetch-Site: same-origin',
      );
    }
    expect(checkOrigin(req({ origin: 'null' }), defaults)?.reason).toBe('cross-origin');
  });

  describe('WebSocket handshakes', () => {
    const handshake = (headers: Record<string, string>, options = defaults) =>
      checkHandshakeOrigin({ host: 'app.test:3000', ...headers }, options);

    it("passes a page of the server's own host, whatever the scheme, and a client that sends no Origin", () => {
      expect(handshake({ origin: 'http://app.test:3000' })).toBeUndefined();
      expect(handshake({ origin: 'https://app.test:3000', 'sec-fetch-site': 'same-origin' })).toBeUndefined();
      expect(checkHandshakeOrigin({ host: 'app.test:443', origin: 'https://app.test' }, defaults)).toBeUndefined();
      expect(handshake({})).toBeUndefined();
    });

    it('takes the host a proxy forwarded (a page cannot set X-Forwarded-Host)', () => {
      expect(handshake({ origin: 'https://shop.example', 'x-forwarded-host': 'shop.example, proxy.internal' })).toBeUndefined();
      expect(handshake({ origin: 'https://evil.example', 'x-forwarded-host': 'shop.example' })?.reason).toBe('cross-origin');
    });

    it("refuses another site's page, another port, Origin: null and Sec-Fetch-Site: cross-site, saying what to do", () => {
      expect(handshake({ origin: 'https://evil.example' })?.detail).toBe(
        "the WebSocket handshake's Origin https://evil.example is not a page of app.test:3000 " +
          '(list it in the csrf trustedOrigins option if it is yours, e.g. pages served from another port)',
      );
      for (const origin of ['http://app.test:3001', 'null', 'not a url']) expect(handshake({ origin })?.reason).toBe('cross-origin');
      expect(handshake({ 'sec-fetch-site': 'cross-site' })?.reason).toBe('cross-origin');
      expect(handshake({ origin: 'http://app.test:3000', 'sec-fetch-site': 'cross-site' })?.reason).toBe('cross-origin');
    });

    it('passes trusted origins, and everything when checkSocketOrigin is false', () => {
      const trusting = resolveCsrfOptions({ trustedOrigins: ['http://app.test:8080'] });
      expect(handshake({ origin: 'http://app.test:8080', 'sec-fetch-site': 'same-site' }, trusting)).toBeUndefined();
      const off = resolveCsrfOptions({ checkSocketOrigin: false });
      expect(handshake({ origin: 'https://evil.example' }, off)).toBeUndefined();
      expect(() => resolveCsrfOptions({ checkSocketOrigin: 'yes' as unknown as boolean })).toThrow(
        'session csrf checkSocketOrigin must be true or false, got yes',
      );
    });
  });

  it('hints at trust proxy when only the scheme differs', () => {
    const refusal = checkOrigin(req({ origin: 'https://app.test' }, 'http', 'app.test'), defaults);
    expect(refusal?.detail).toMatch(/trust proxy/);
  });

  it('refuses Sec-Fetch-Site: cross-site with or without Origin, but passes a request with neither header', () => {
    expect(checkOrigin(req({ 'sec-fetch-site': 'cross-site' }), defaults)?.reason).toBe('cross-origin');
    expect(checkOrigin(req({ 'sec-fetch-site': 'cross-site', origin: 'http://app.test:3000' }), defaults)?.reason).toBe('cross-origin');
    expect(checkOrigin(req({ 'sec-fetch-site': 'same-site' }), defaults)).toBeUndefined();
    expect(checkOrigin(req({}), defaults)).toBeUndefined();
  });

  it('requireOrigin refuses a request with neither header', () => {
    const strict = resolveCsrfOptions({ requireOrigin: true });
    expect(checkOrigin(req({}), strict)?.detail).toMatch(/neither an Origin nor a Sec-Fetch-Site/);
    expect(checkOrigin(req({ 'sec-fetch-site': 'same-origin' }), strict)).toBeUndefined();
  });

  it('trusted origins pass, cross-site included, and only exactly them', () => {
    const options = resolveCsrfOptions({ trustedOrigins: ['https://front.example', 'https://other.example:8443/'] });
    expect(checkOrigin(req({ origin: 'https://front.example' }), options)).toBeUndefined();
    expect(checkOrigin(req({ origin: 'https://front.example:443', 'sec-fetch-site': 'cross-site' }), options)).toBeUndefined();
    expect(checkOrigin(req({ origin: 'https://other.example:8443' }), options)).toBeUndefined();
    expect(checkOrigin(req({ origin: 'http://front.example' }), options)?.reason).toBe('cross-origin');
    expect(checkOrigin(req({ origin: 'https://evil.front.example' }), options)?.reason).toBe('cross-origin');
  });

  it('refuses bad options at start-up with one sentence', () => {
    for (const bad of ['front.example', 'https://front.example/path', 'ftp://front.example', 'https://u:p@front.example', 42]) {
      expect(() => resolveCsrfOptions({ trustedOrigins: [bad as string] })).toThrow(SessionOptionsError);
      expect(() => resolveCsrfOptions({ trustedOrigins: [bad as string] })).toThrow(
        /is not an origin; write it as scheme:\/\/host\[:port\]/,
      );
    }
    expect(() => resolveCsrfOptions({ trustedOrigins: 'https://front.example' as unknown as string[] })).toThrow(/must be an array/);
    expect(() => resolveCsrfOptions({ requireOrigin: 'yes' as unknown as boolean })).toThrow(/requireOrigin must be true or false/);
  });
});
