import type { SessionModuleOptions } from './session-options.interface.js';
import {
  DEFAULT_ABSOLUTE_TIMEOUT_SECONDS,
  DEFAULT_COOKIE_NAME,
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  DEFAULT_MAX_SESSION_BYTES,
  DEFAULT_STORE_TIMEOUT_MS,
  SessionOptionsError,
  resolveSessionOptions,
} from './session-options.js';

/** Options as a user might get them wrong: through JSON config, JavaScript, or a cast. */
function loose(options: unknown): SessionModuleOptions {
  return options as SessionModuleOptions;
}

function optionError(options: unknown): SessionOptionsError {
  try {
    resolveSessionOptions(loose(options));
  } catch (error) {
    expect(error).toBeInstanceOf(SessionOptionsError);
    expect((error as Error).name).toBe('SessionOptionsError');
    return error as SessionOptionsError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

/** One clear sentence: a single line, no control characters, that names the option. */
function expectOneSentence(error: Error, names: RegExp): void {
  expect(error.message).toMatch(/^session /);
  expect(error.message).toMatch(names);
  // eslint-disable-next-line no-control-regex
  expect(error.message).not.toMatch(/[\u0000-\u001f]/);
  expect(error.message.split(/[.!?]\s+[A-Z]/)).toHaveLength(1);
}

describe('resolveSessionOptions: defaults', () => {
  it('applies the documented defaults', () => {
    const resolved = resolveSessionOptions();
    // Resolved durations are in ms: 24 hours idle, 7 days absolute.
    expect(resolved).toMatchObject({
      enabled: true,
      idleTimeoutMs: 86_400 * 1000,
      absoluteTimeoutMs: 604_800 * 1000,
      cookie: {
        name: 'session_id',
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: 'auto',
        persistent: false,
      },
    });
    expect(resolved.cookie.domain).toBeUndefined();
  });

  it('limits server-side sessions to 64 KiB of JSON by default; false turns the limit off', () => {
    expect(DEFAULT_MAX_SESSION_BYTES).toBe(64 * 1024);
    expect(resolveSessionOptions().maxSessionBytes).toBe(65_536);
    expect(resolveSessionOptions({ maxSessionBytes: 1_000_000 }).maxSessionBytes).toBe(1_000_000);
    expect(resolveSessionOptions({ maxSessionBytes: false }).maxSessionBytes).toBeUndefined();
  });

  it('exports the defaults it applies', () => {
    expect(DEFAULT_COOKIE_NAME).toBe('session_id');
    expect(DEFAULT_IDLE_TIMEOUT_SECONDS).toBe(24 * 60 * 60);
    expect(DEFAULT_ABSOLUTE_TIMEOUT_SECONDS).toBe(7 * 24 * 60 * 60);
  });

  it('treats {} and an empty cookie object like no options', () => {
    expect(resolveSessionOptions({})).toEqual(resolveSessionOptions());
    expect(resolveSessionOptions({ cookie: {} })).toEqual(resolveSessionOptions());
  });

  it('keeps valid choices and converts seconds to ms', () => {
    const resolved = resolveSessionOptions({
      enabled: false,
      idleTimeout: 1.5,
      absoluteTimeout: 3600,
      cookie: {
        name: '__Host-sid',
        path: '/',
        httpOnly: false,
        sameSite: 'none',
        secure: true,
        persistent: true,
      },
    });
    expect(resolved).toMatchObject({
      enabled: false,
      idleTimeoutMs: 1500,
      absoluteTimeoutMs: 3_600_000,
      cookie: {
        name: '__Host-sid',
        path: '/',
        httpOnly: false,
        sameSite: 'none',
        secure: true,
        persistent: true,
      },
    });
    expect(resolved.cookie.domain).toBeUndefined();
  });

  it.each(['example.com', '.example.com', 'localhost', 'a-b.example.co.uk', 'EXAMPLE.com'])('accepts the domain %s', (domain) => {
    expect(resolveSessionOptions({ cookie: { domain } }).cookie.domain).toBe(domain);
  });

  it.each(['/', '/app', '/app/', '/a-b_c.d/~x', '/%20'])('accepts the path %s', (path) => {
    expect(resolveSessionOptions({ cookie: { path } }).cookie.path).toBe(path);
  });

  it.each(['sid', 'SESSION', 'my.session-id_1', "a!#$%&'*+-.^_`|~z"])('accepts the cookie name %s', (name) => {
    expect(resolveSessionOptions({ cookie: { name } }).cookie.name).toBe(name);
  });

  it('accepts absoluteTimeout equal to idleTimeout', () => {
    const resolved = resolveSessionOptions({ idleTimeout: 60, absoluteTimeout: 60 });
    expect(resolved.absoluteTimeoutMs).toBe(resolved.idleTimeoutMs);
  });

  it('accepts __Secure- with secure: true, and __Host- with secure: true, path / and no domain', () => {
    expect(resolveSessionOptions({ cookie: { name: '__Secure-sid', secure: true } }).cookie.name).toBe('__Secure-sid');
    expect(
      resolveSessionOptions({ cookie: { name: '__Secure-sid', secure: true, domain: 'example.com', path: '/app' } }).cookie.domain,
    ).toBe('example.com');
    expect(resolveSessionOptions({ cookie: { name: '__Host-sid', secure: true } }).cookie.name).toBe('__Host-sid');
  });
});

describe('resolveSessionOptions: refused options', () => {
  describe.each(['idleTimeout', 'absoluteTimeout'] as const)('%s', (option) => {
    it.each([
      ['zero', 0],
      ['negative', -1],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a numeric string', '60'],
      ['null', null],
      ['a boolean', true],
      ['under a second', 0.0004],
    ])('refuses %s', (_label, value) => {
      const error = optionError({ [option]: value });
      expectOneSentence(error, new RegExp(`${option} must be a positive number of seconds`));
    });
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '65536', null, true])('refuses maxSessionBytes %s', (value) => {
    const error = optionError({ maxSessionBytes: value as number });
    expectOneSentence(error, /^session maxSessionBytes must be a positive integer \(bytes of JSON\) or false \(no limit\), got /);
  });

  it('refuses a null cookie name instead of quietly using the default', () => {
    const error = optionError({ cookie: { name: null as unknown as string } });
    expectOneSentence(error, /^session cookie name null is not a valid cookie name/);
  });

  it('refuses absoluteTimeout shorter than idleTimeout', () => {
    const error = optionError({ idleTimeout: 600, absoluteTimeout: 599 });
    expectOneSentence(error, /absoluteTimeout must be at least idleTimeout/);
  });

  it('refuses a default idleTimeout larger than a short absoluteTimeout', () => {
    const error = optionError({ absoluteTimeout: 3600 });
    expectOneSentence(error, /absoluteTimeout.*idleTimeout/);
  });

  it.each([
    ['a space', 'session id'],
    ['a semicolon', 'sid;x'],
    ['an equals sign', 'sid=x'],
    ['CR LF', 'sid\r\nSet-Cookie: x'],
    ['a tab', 'sid\tx'],
    ['empty', ''],
    ['unicode', 'sessiön'],
    ['a comma', 'a,b'],
    ['quotes', '"sid"'],
    ['brackets', 'sid[]'],
    ['a number', 42],
  ])('refuses a cookie name with %s', (_label, name) => {
    const error = optionError({ cookie: { name } });
    expectOneSentence(error, /cookie name .* is not a valid cookie name/);
  });

  it.each([
    ['no leading slash', 'app'],
    ['empty', ''],
    ['a semicolon', '/app;Domain=evil.com'],
    ['CR LF', '/app\r\nX: y'],
    ['a lone LF', '/app\n'],
    ['a space', '/my app'],
    ['DEL', '/app\u007f'],
    ['unicode', '/café'],
    ['a number', 1],
  ])('refuses a cookie path with %s', (_label, path) => {
    const error = optionError({ cookie: { path } });
    expectOneSentence(error, /cookie path .* must start with "\/"/);
  });

  it.each([
    ['empty', ''],
    ['a space', 'exa mple.com'],
    ['a semicolon', 'example.com; Secure'],
    ['a scheme', 'https://example.com'],
    ['a path', 'example.com/app'],
    ['a port', 'example.com:3000'],
    ['a leading hyphen', '-example.com'],
    ['a trailing hyphen label', 'example-.com'],
    ['an empty label', 'example..com'],
    ['a trailing dot', 'example.com.'],
    ['two leading dots', '..example.com'],
    ['CR LF', 'example.com\r\n'],
    ['unicode', 'exämple.com'],
    ['a number', 5],
  ])('refuses a cookie domain with %s', (_label, domain) => {
    const error = optionError({ cookie: { domain } });
    expectOneSentence(error, /cookie domain .* is not a valid host name/);
  });

  it.each(['yes', 1, null, 'AUTO'])('refuses cookie secure %s', (secure) => {
    const error = optionError({ cookie: { secure } });
    expectOneSentence(error, /cookie secure must be true, false or 'auto'/);
  });

  it.each(['Lax', 'None', 'off', true, ''])('refuses cookie sameSite %s', (sameSite) => {
    const error = optionError({ cookie: { sameSite } });
    expectOneSentence(error, /cookie sameSite must be one of 'lax', 'strict', 'none'/);
  });

  it.each([undefined, 'auto', false] as const)('refuses sameSite none with secure %s', (secure) => {
    const error = optionError({ cookie: { sameSite: 'none', secure } });
    expectOneSentence(error, /sameSite 'none' requires secure: true/);
  });

  it.each([undefined, 'auto', false] as const)('refuses a __Secure- name with secure %s', (secure) => {
    const error = optionError({ cookie: { name: '__Secure-sid', secure } });
    expectOneSentence(error, /__Secure- require secure: true/);
  });

  it.each([
    ['a domain', { secure: true, domain: 'example.com' }],
    ['a path other than /', { secure: true, path: '/app' }],
    ['secure auto', { secure: 'auto' }],
    ['secure false', { secure: false }],
    ['no secure option', {}],
  ])('refuses a __Host- name with %s', (_label, cookie) => {
    const error = optionError({ cookie: { name: '__Host-sid', ...cookie } });
    expectOneSentence(error, /__Host- require secure: true, path '\/' and no domain/);
  });

  it.each([
    ['__secure-sid', { secure: 'auto' }, /__Secure- require secure: true/],
    ['__SECURE-sid', { secure: false }, /__Secure- require secure: true/],
    ['__host-sid', { secure: true, domain: 'example.com' }, /__Host- require/],
    ['__HOST-sid', { secure: 'auto' }, /__Host- require/],
  ])('checks the %s prefix case-insensitively, as browsers do', (name, cookie, message) => {
    expectOneSentence(optionError({ cookie: { name, ...cookie } }), message);
  });

  it.each([
    ['enabled', { enabled: 'no' }, /enabled must be true or false/],
    ['enabled', { enabled: 0 }, /enabled must be true or false/],
    ['cookie httpOnly', { cookie: { httpOnly: 'true' } }, /cookie httpOnly must be true or false/],
    ['cookie httpOnly', { cookie: { httpOnly: null } }, /cookie httpOnly must be true or false/],
    ['cookie persistent', { cookie: { persistent: 1 } }, /cookie persistent must be true or false/],
  ])('refuses a non-boolean %s', (_label, options, message) => {
    expectOneSentence(optionError(options), message);
  });

  it('escapes the offending value so the message stays one line', () => {
    const error = optionError({ cookie: { name: 'a\r\nb' } });
    expect(error.message).toContain('"a\\r\\nb"');
  });
});

describe('resolveSessionOptions: storeTimeout and failFast', () => {
  it('defaults to a 3 s deadline and no fail-fast', () => {
    expect(resolveSessionOptions()).toMatchObject({ storeTimeoutMs: DEFAULT_STORE_TIMEOUT_MS, failFast: false });
    expect(DEFAULT_STORE_TIMEOUT_MS).toBe(3000);
  });

  it('keeps a valid deadline (in ms, as given) and failFast', () => {
    expect(resolveSessionOptions({ storeTimeout: 250, failFast: true })).toMatchObject({ storeTimeoutMs: 250, failFast: true });
    expect(resolveSessionOptions({ storeTimeout: 2_147_483_647 }).storeTimeoutMs).toBe(2_147_483_647);
  });

  it.each([
    ['zero', 0],
    ['negative', -5],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['longer than a timer can wait', 2_147_483_648],
    ['a numeric string', '3000'],
    ['null', null],
  ])('refuses a storeTimeout that is %s', (_label, value) => {
    expectOneSentence(optionError({ storeTimeout: value }), /storeTimeout must be a whole number of milliseconds between 1 and 2147483647/);
  });

  it('refuses a non-boolean failFast', () => {
    expectOneSentence(optionError({ failFast: 'yes' }), /failFast must be true or false/);
  });
});
