import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SessionOptionsError } from '../session.exceptions.js';
import { CookieSealer, type SealedSession } from './cookie-sealer.js';
import { generateSessionId } from './session-id.js';

const OLD_SECRET = 'old-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const NEW_SECRET = 'new-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const NOW = 1_700_000_000_000;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function payload(overrides: Partial<SealedSession> = {}): SealedSession {
  return {
    id: generateSessionId(),
    createdAt: NOW - 60_000,
    expiresAt: NOW + 3_600_000,
    data: { username: 'alice', visits: 3 },
    ...overrides,
  };
}

/** The key and kid derived independently of the implementation, from the documented labels. */
function derive(secret: string): { key: Buffer; kid: string } {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'novanest-session cookie-seal v1', 32));
  const kid = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'novanest-session cookie-seal kid v1', 6)).toString('base64url');
  return { key, kid };
}

/** Seals arbitrary plaintext exactly as the token format says, to reach the shape checks. */
function sealRaw(secret: string, plaintext: string): string {
  const { key, kid } = derive(secret);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(kid));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${kid}.${Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
}

function splitToken(token: string): { kid: string; body: Buffer } {
  const [kid, body] = token.split('.');
  return { kid, body: Buffer.from(body, 'base64url') };
}

function joinToken(kid: string, body: Buffer): string {
  return `${kid}.${body.toString('base64url')}`;
}

/** Every token obtained by flipping one bit of the body in [start, end). */
function bitFlips(token: string, start: number, end: number): string[] {
  const { kid, body } = splitToken(token);
  const flipped: string[] = [];
  for (let byte = start; byte < end; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(body);
      copy[byte] ^= 1 << bit;
      flipped.push(joinToken(kid, copy));
    }
  }
  return flipped;
}

/** Asserts that `fn` throws a SessionOptionsError with exactly `message`. */
function expectOptionsError(fn: () => unknown, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SessionOptionsError);
  expect((caught as Error).message).toBe(message);
}

describe('CookieSealer', () => {
  describe('seal and open', () => {
    it('round-trips nested objects and unicode, not stale', () => {
      const sealer = new CookieSealer(NEW_SECRET);
      const session = payload({
        data: {
          user: { name: 'Zoë 李 😀', roles: ['admin', 'ops'], prefs: { theme: 'dark', nested: { deep: [1, { x: null }] } } },
          quote: 'a "quoted" \\ string\nwith newline and \u2028 separator',
          flag: false,
          count: 0,
          ratio: 0.25,
        },
      });
      const token = sealer.seal(session);
      expect(sealer.open(token, NOW)).toEqual({ session, stale: false });
    });

    it('produces <kid>.<base64url body> with an 8-character kid derived by HKDF', () => {
      const token = new CookieSealer(NEW_SECRET).seal(payload());
      expect(token).toMatch(/^[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+$/);
      expect(token.split('.')[0]).toBe(derive(NEW_SECRET).kid);
    });

    it('is AES-256-GCM over the JSON payload with a 12-byte nonce, a 16-byte tag and the kid as AAD', () => {
      const session = payload();
      const token = new CookieSealer(NEW_SECRET).seal(session);
      const { key, kid } = derive(NEW_SECRET);
      const { body } = splitToken(token);
      const open = (aad: Buffer | undefined): string => {
        const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, NONCE_BYTES));
        if (aad) decipher.setAAD(aad);
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        const plain = decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES));
        return Buffer.concat([plain, decipher.final()]).toString('utf8');
      };
      expect(JSON.parse(open(Buffer.from(kid)))).toEqual(session);
      // Without the kid as additional data the tag does not verify: the kid is bound.
      expect(() => open(undefined)).toThrow();
      expect(() => open(Buffer.from(derive(OLD_SECRET).kid))).toThrow();
    });

    it('keeps a __proto__ key as data and pollutes no prototype', () => {
      const sealer = new CookieSealer(NEW_SECRET);
      const data = JSON.parse('{"__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}},"ok":1}');
      const token = sealer.seal(payload({ data }));
      const opened = sealer.open(token, NOW);
      expect(opened).toBeDefined();
      const result = opened!.session.data;

      expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
      expect(Object.hasOwn(result, '__proto__')).toBe(true);
      expect(Object.getOwnPropertyDescriptor(result, '__proto__')?.value).toEqual({ polluted: true });
      expect(Object.keys(result)).toEqual(['__proto__', 'nested', 'ok']);
      expect((result as { polluted?: unknown }).polluted).toBeUndefined();

      const nested = result.nested as object;
      expect(Object.getPrototypeOf(nested)).toBe(Object.prototype);
      expect(Object.hasOwn(nested, '__proto__')).toBe(true);
      expect((nested as { polluted?: unknown }).polluted).toBeUndefined();

      expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('seals a null-prototype data object', () => {
      const sealer = new CookieSealer(NEW_SECRET);
      const data = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
      const opened = sealer.open(sealer.seal(payload({ data })), NOW);
      expect(opened?.session.data).toEqual({ a: 1 });
    });

    it('gives different tokens for two seals of the same payload (random nonce)', () => {
      const sealer = new CookieSealer(NEW_SECRET);
      const session = payload();
      const first = sealer.seal(session);
      const second = sealer.seal(session);
      expect(first).not.toBe(second);
      expect(splitToken(first).body.subarray(0, NONCE_BYTES)).not.toEqual(splitToken(second).body.subarray(0, NONCE_BYTES));
      expect(sealer.open(first, NOW)?.session).toEqual(session);
      expect(sealer.open(second, NOW)?.session).toEqual(session);
    });

    it('does not carry the plaintext in the token', () => {
      const token = new CookieSealer(NEW_SECRET).seal(payload({ data: { secret: 'hunter2-hunter2' } }));
      const { body } = splitToken(token);
      expect(token.includes('hunter2')).toBe(false);
      expect(body.includes(Buffer.from('hunter2'))).toBe(false);
    });

    it('refuses to seal what open would refuse, with one sentence', () => {
      const sealer = new CookieSealer(NEW_SECRET);
      const bad: [unknown, string][] = [
        [null, 'sealed session must be an object with id, createdAt, expiresAt and data'],
        [{ ...payload(), id: 42 }, 'sealed session id must be a string'],
        [{ ...payload(), expiresAt: Number.NaN }, 'sealed session createdAt and expiresAt must be finite numbers of epoch milliseconds'],
        [{ ...payload(), createdAt: '1' }, 'sealed session createdAt and expiresAt must be finite numbers of epoch milliseconds'],
        [{ ...payload(), data: [1, 2] }, 'sealed session data must be a plain object'],
        [{ ...payload(), data: new Date() }, 'sealed session data must be a plain object'],
      ];
      for (const [value, message] of bad) {
        expect(() => sealer.seal(value as SealedSession)).toThrow(TypeError);
        expect(() => sealer.seal(value as SealedSession)).toThrow(message);
      }
    });
  });

  describe('tampering', () => {
    const sealer = new CookieSealer([NEW_SECRET, OLD_SECRET]);
    const token = sealer.seal(payload());
    const bodyLength = splitToken(token).body.length;

    it('opens the untouched token (control)', () => {
      expect(sealer.open(token, NOW)).toBeDefined();
      expect(bodyLength).toBeGreaterThan(NONCE_BYTES + TAG_BYTES + 50);
    });

    it('rejects every single-bit flip in the nonce', () => {
      const flips = bitFlips(token, 0, NONCE_BYTES);
      expect(flips).toHaveLength(NONCE_BYTES * 8);
      for (const flipped of flips) expect(sealer.open(flipped, NOW)).toBeUndefined();
    });

    it('rejects every single-bit flip in the ciphertext', () => {
      const flips = bitFlips(token, NONCE_BYTES, bodyLength - TAG_BYTES);
      expect(flips.length).toBeGreaterThan(50 * 8);
      for (const flipped of flips) expect(sealer.open(flipped, NOW)).toBeUndefined();
    });

    it('rejects every single-bit flip in the tag', () => {
      const flips = bitFlips(token, bodyLength - TAG_BYTES, bodyLength);
      expect(flips).toHaveLength(TAG_BYTES * 8);
      for (const flipped of flips) expect(sealer.open(flipped, NOW)).toBeUndefined();
    });

    it('rejects truncated tokens', () => {
      const { kid, body } = splitToken(token);
      const truncated = [
        token.slice(0, -1),
        token.slice(0, Math.floor(token.length / 2)),
        token.slice(0, 9),
        token.slice(0, 8),
        joinToken(kid, body.subarray(0, body.length - 1)),
        joinToken(kid, body.subarray(0, body.length - TAG_BYTES)),
        joinToken(kid, body.subarray(0, NONCE_BYTES + TAG_BYTES)),
        joinToken(kid, body.subarray(1)),
      ];
      for (const value of truncated) expect(sealer.open(value, NOW)).toBeUndefined();
    });

    it('rejects trailing garbage', () => {
      const { kid, body } = splitToken(token);
      const padded = [
        `${token}A`,
        `${token}AA`,
        `${token}=`,
        `${token}.`,
        `${token}.${token}`,
        `${token} `,
        `${token}\n`,
        `${token}\u0000`,
        joinToken(kid, Buffer.concat([body, Buffer.from([0])])),
        joinToken(kid, Buffer.concat([body, randomBytes(16)])),
      ];
      for (const value of padded) expect(sealer.open(value, NOW)).toBeUndefined();
    });

    it('rejects a non-canonical spelling of the same bytes', () => {
      // Node's decoder ignores stray characters and spare low bits; the token must not.
      const [kid, body] = token.split('.');
      expect(sealer.open(`${kid}.${body}==`, NOW)).toBeUndefined();
      expect(sealer.open(`${kid}.${body.slice(0, 10)}+${body.slice(11)}`, NOW)).toBeUndefined();
      if (body.length % 4 !== 0) {
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const last = alphabet.indexOf(body[body.length - 1]);
        const noisy = `${body.slice(0, -1)}${alphabet[last ^ 1]}`;
        expect(Buffer.from(noisy, 'base64url')).toEqual(Buffer.from(body, 'base64url'));
        expect(sealer.open(`${kid}.${noisy}`, NOW)).toBeUndefined();
      }
    });

    it("rejects a token whose kid was swapped to another key's kid", () => {
      const oldKid = derive(OLD_SECRET).kid;
      const newKid = derive(NEW_SECRET).kid;
      expect(oldKid).not.toBe(newKid);
      const { kid, body } = splitToken(token);
      expect(kid).toBe(newKid);
      expect(sealer.open(joinToken(oldKid, body), NOW)).toBeUndefined();

      const oldToken = new CookieSealer(OLD_SECRET).seal(payload());
      expect(sealer.open(oldToken, NOW)).toBeDefined();
      expect(sealer.open(joinToken(newKid, splitToken(oldToken).body), NOW)).toBeUndefined();
    });

    it('rejects an unknown kid', () => {
      const { body } = splitToken(token);
      expect(sealer.open(joinToken('AAAAAAAA', body), NOW)).toBeUndefined();
    });
  });

  describe('payload shape', () => {
    const sealer = new CookieSealer(NEW_SECRET);
    const good = { id: 'x', createdAt: NOW, expiresAt: NOW + 1000, data: {} };

    it('opens a correctly shaped payload sealed by hand (control)', () => {
      expect(sealer.open(sealRaw(NEW_SECRET, JSON.stringify(good)), NOW)).toEqual({ session: good, stale: false });
    });

    it('ignores unknown top-level fields', () => {
      const opened = sealer.open(sealRaw(NEW_SECRET, JSON.stringify({ ...good, v: 2 })), NOW);
      expect(opened?.session).toEqual(good);
      expect(Object.keys(opened!.session)).toEqual(['id', 'createdAt', 'expiresAt', 'data']);
    });

    it.each([
      ['not JSON', 'not json'],
      ['truncated JSON', JSON.stringify(good).slice(0, -1)],
      ['JSON null', 'null'],
      ['a JSON array', JSON.stringify([good])],
      ['a JSON string', JSON.stringify('session')],
      ['no id', JSON.stringify({ ...good, id: undefined })],
      ['a numeric id', JSON.stringify({ ...good, id: 1 })],
      ['a string createdAt', JSON.stringify({ ...good, createdAt: String(NOW) })],
      ['a null expiresAt', JSON.stringify({ ...good, expiresAt: null })],
      ['no expiresAt', JSON.stringify({ ...good, expiresAt: undefined })],
      ['an overflowing expiresAt', JSON.stringify(good).replace(String(NOW + 1000), '1e400')],
      ['array data', JSON.stringify({ ...good, data: [] })],
      ['null data', JSON.stringify({ ...good, data: null })],
      ['string data', JSON.stringify({ ...good, data: 'x' })],
      ['no data', JSON.stringify({ ...good, data: undefined })],
    ])('rejects %s', (_label, plaintext) => {
      expect(sealer.open(sealRaw(NEW_SECRET, plaintext), NOW)).toBeUndefined();
    });
  });

  describe('rotation', () => {
    it('opens an old-key token as stale, and the re-sealed token as fresh', () => {
      const session = payload();
      const oldToken = new CookieSealer(OLD_SECRET).seal(session);
      const rotated = new CookieSealer([NEW_SECRET, OLD_SECRET]);

      expect(rotated.open(oldToken, NOW)).toEqual({ session, stale: true });

      const resealed = rotated.seal(session);
      expect(resealed.split('.')[0]).toBe(derive(NEW_SECRET).kid);
      expect(rotated.open(resealed, NOW)).toEqual({ session, stale: false });
      expect(new CookieSealer(NEW_SECRET).open(resealed, NOW)).toEqual({ session, stale: false });
    });

    it('invalidates tokens of a key once it is removed', () => {
      const oldToken = new CookieSealer(OLD_SECRET).seal(payload());
      expect(new CookieSealer([NEW_SECRET, OLD_SECRET]).open(oldToken, NOW)).toBeDefined();
      expect(new CookieSealer([NEW_SECRET]).open(oldToken, NOW)).toBeUndefined();
    });

    it('gives each secret its own kid', () => {
      const kids = new Set(['a', 'b', 'c', 'd'].map((c) => new CookieSealer(c.repeat(32)).seal(payload()).split('.')[0]));
      expect(kids.size).toBe(4);
    });
  });

  describe('expiry', () => {
    const sealer = new CookieSealer(NEW_SECRET);

    it('rejects a payload whose expiresAt is now or earlier', () => {
      const token = sealer.seal(payload({ expiresAt: NOW }));
      expect(sealer.open(token, NOW)).toBeUndefined();
      expect(sealer.open(token, NOW + 1)).toBeUndefined();
      expect(sealer.open(token, NOW + 86_400_000)).toBeUndefined();
    });

    it('accepts a payload that has not expired yet', () => {
      const session = payload({ expiresAt: NOW + 1 });
      const token = sealer.seal(session);
      expect(sealer.open(token, NOW)).toEqual({ session, stale: false });
      expect(sealer.open(token, NOW - 3_600_000)).toEqual({ session, stale: false });
    });

    it('fails closed when now is not a finite number', () => {
      const token = sealer.seal(payload());
      for (const now of [Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, '0' as unknown as number]) {
        expect(sealer.open(token, now)).toBeUndefined();
      }
    });
  });

  describe('size', () => {
    const sealer = new CookieSealer(NEW_SECRET);

    it('opens a large token below the 8192-character limit', () => {
      const token = sealer.seal(payload({ data: { blob: 'x'.repeat(5000) } }));
      expect(token.length).toBeLessThanOrEqual(8192);
      expect(sealer.open(token, NOW)).toBeDefined();
    });

    it('refuses a validly sealed token over 8192 characters without opening it', () => {
      const token = sealer.seal(payload({ data: { blob: 'x'.repeat(7000) } }));
      expect(token.length).toBeGreaterThan(8192);
      expect(sealer.open(token, NOW)).toBeUndefined();
    });
  });

  describe('secrets', () => {
    it('refuses a secret shorter than 32 bytes with one sentence', () => {
      expectOptionsError(() => new CookieSealer('x'.repeat(31)), 'session secret must be at least 32 bytes');
      expectOptionsError(() => new CookieSealer([NEW_SECRET, 'short']), 'session secret must be at least 32 bytes');
      expectOptionsError(() => new CookieSealer(''), 'session secret must be at least 32 bytes');
    });

    it('counts UTF-8 bytes, not characters', () => {
      expect(() => new CookieSealer('é'.repeat(16))).not.toThrow();
      expectOptionsError(() => new CookieSealer('é'.repeat(15)), 'session secret must be at least 32 bytes');
    });

    it('refuses an empty list', () => {
      expectOptionsError(() => new CookieSealer([]), 'session secret list must contain at least one secret');
    });

    it('refuses secrets that are not strings (untyped callers)', () => {
      for (const bad of [undefined, null, 42, {}, [Buffer.alloc(64)]]) {
        expectOptionsError(() => new CookieSealer(bad as unknown as string), 'session secret must be a string or an array of strings');
      }
    });

    it('does not derive the kid from the encryption key bytes', () => {
      const { key, kid } = derive(NEW_SECRET);
      expect(key.toString('base64url').includes(kid)).toBe(false);
      expect(Buffer.from(NEW_SECRET).toString('base64url').includes(kid)).toBe(false);
    });
  });

  describe('garbage input', () => {
    const sealer = new CookieSealer(NEW_SECRET);
    const kid = derive(NEW_SECRET).kid;

    it.each([
      ['empty', ''],
      ['a dot', '.'],
      ['a kid and a dot', `${kid}.`],
      ['a kid alone', kid],
      ['a.b.c', 'a.b.c'],
      ['many dots', '.'.repeat(100)],
      ['a kid and short body', `${kid}.AAAA`],
      ['a kid and 28 zero bytes', `${kid}.${Buffer.alloc(28).toString('base64url')}`],
      ['a kid and 29 zero bytes', `${kid}.${Buffer.alloc(29).toString('base64url')}`],
      ['a kid and 200 random bytes', `${kid}.${randomBytes(200).toString('base64url')}`],
      ['10 KB', 'A'.repeat(10 * 1024)],
      ['10 KB after a kid', `${kid}.${'A'.repeat(10 * 1024)}`],
      ['unicode', `${kid}.é${'A'.repeat(60)}`],
      ['emoji kid', `😀😀😀😀.${'A'.repeat(60)}`],
      ['a long kid', `${kid}A.${'A'.repeat(60)}`],
      ['standard base64', `${kid}.${randomBytes(60).toString('base64')}+/==`],
      ['a session id', generateSessionId()],
    ])('returns undefined for %s', (_label, value) => {
      expect(() => sealer.open(value, NOW)).not.toThrow();
      expect(sealer.open(value, NOW)).toBeUndefined();
    });

    it('returns undefined for values that are not strings (untyped callers)', () => {
      for (const bad of [undefined, null, 42, {}, [sealer.seal(payload())]]) {
        expect(sealer.open(bad as unknown as string, NOW)).toBeUndefined();
      }
    });
  });
});

describe('CookieSealer.sealedLength', () => {
  it('is the length of the token seal() returns, for small, large and multi-byte payloads', () => {
    const sealer = new CookieSealer([NEW_SECRET, OLD_SECRET]);
    const payloads = [
      payload({ data: {} }),
      payload(),
      payload({ data: { note: 'é'.repeat(7), emoji: '🙂'.repeat(5), n: -1.5e-7 } }),
      ...Array.from({ length: 40 }, (_, size) => payload({ data: { pad: 'x'.repeat(size * 37) } })),
    ];
    for (const sealed of payloads) {
      expect(sealer.sealedLength(sealed)).toBe(sealer.seal(sealed).length);
    }
  });

  it('refuses what seal() refuses', () => {
    const sealer = new CookieSealer(NEW_SECRET);
    const bad = payload({ data: { n: 1n } as unknown as Record<string, unknown> });
    expect(() => sealer.seal(bad)).toThrow(TypeError);
    expect(() => sealer.sealedLength(bad)).toThrow(TypeError);
  });
});

describe('CookieSealer nonces', () => {
  it('never repeats a nonce over more seals than one batch of the pool holds', () => {
    const sealer = new CookieSealer(NEW_SECRET);
    const sealed = payload();
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const body = Buffer.from(sealer.seal(sealed).split('.')[1], 'base64url');
      const nonce = body.subarray(0, NONCE_BYTES);
      expect(nonce.equals(Buffer.alloc(NONCE_BYTES))).toBe(false);
      nonces.add(nonce.toString('hex'));
    }
    expect(nonces.size).toBe(1000);
  });
});
