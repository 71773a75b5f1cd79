import { createHash } from 'node:crypto';
import { generateSessionId, isWellFormedSessionId, sessionStoreKey } from './session-id.js';

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('generateSessionId', () => {
  it('is 43 base64url characters that decode to exactly 32 bytes', () => {
    const id = generateSessionId();
    expect(id).toHaveLength(43);
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
    const bytes = Buffer.from(id, 'base64url');
    expect(bytes).toHaveLength(32);
    // Canonical: re-encoding the 32 bytes gives the same text back.
    expect(bytes.toString('base64url')).toBe(id);
  });

  it('draws distinct ids', () => {
    const draws = 10_000;
    const ids = new Set<string>();
    for (let i = 0; i < draws; i++) ids.add(generateSessionId());
    expect(ids.size).toBe(draws);
  });

  it('produces ids that pass its own format check', () => {
    for (let i = 0; i < 1_000; i++) expect(isWellFormedSessionId(generateSessionId())).toBe(true);
  });
});

describe('isWellFormedSessionId', () => {
  const valid = generateSessionId();

  /** The same id with its last character moved to one that carries bits 32 bytes cannot have. */
  function withNonCanonicalLastChar(id: string): string {
    const last = BASE64URL_ALPHABET.indexOf(id[42]);
    // 43 chars carry 258 bits; the last one holds 4 real bits and 2 that must be zero.
    const noisy = BASE64URL_ALPHABET[(last & ~0b11) | 0b01];
    return id.slice(0, 42) + noisy;
  }

  it('accepts a generated id', () => {
    expect(isWellFormedSessionId(valid)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['garbage', 'not-a-session-id'],
    ['42 characters', valid.slice(0, 42)],
    ['44 characters', `${valid}A`],
    ['unicode of the right length', `${valid.slice(0, 42)}é`],
    ['unicode emoji', `${valid.slice(0, 41)}😀`],
    ['base64 padding', `${valid.slice(0, 42)}=`],
    ['base64 "+" alphabet', `+${valid.slice(1)}`],
    ['base64 "/" alphabet', `${valid.slice(0, 20)}/${valid.slice(21)}`],
    ['a space', `${valid.slice(0, 20)} ${valid.slice(21)}`],
    ['a dot', `${valid.slice(0, 20)}.${valid.slice(21)}`],
    ['a 4 KB string', 'A'.repeat(4096)],
    ['a 4 KB string of id characters', valid.repeat(96)],
    ['a trailing newline', `${valid.slice(0, 42)}\n`],
    ['a NUL', `${valid.slice(0, 42)}\u0000`],
  ])('rejects %s', (_label, value) => {
    expect(isWellFormedSessionId(value)).toBe(false);
  });

  it('rejects a non-canonical last character', () => {
    const noisy = withNonCanonicalLastChar(valid);
    expect(noisy).not.toBe(valid);
    expect(noisy).toHaveLength(43);
    expect(noisy).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // It decodes to the same bytes as a valid id, which is why the format check must catch it.
    expect(Buffer.from(noisy, 'base64url')).toEqual(Buffer.from(valid, 'base64url'));
    expect(isWellFormedSessionId(noisy)).toBe(false);
  });

  it('accepts every canonical last character and rejects every other one', () => {
    const stem = valid.slice(0, 42);
    for (let index = 0; index < 64; index++) {
      const canonical = (index & 0b11) === 0;
      expect(isWellFormedSessionId(stem + BASE64URL_ALPHABET[index])).toBe(canonical);
    }
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a boolean', true],
    ['an array holding an id', [valid]],
    ['an object', { id: valid }],
    ['a String object', new String(valid)],
    ['a Buffer of an id', Buffer.from(valid)],
  ])('rejects %s', (_label, value) => {
    expect(isWellFormedSessionId(value)).toBe(false);
  });
});

describe('sessionStoreKey', () => {
  it('is the SHA-256 digest of the id, base64url', () => {
    const id = generateSessionId();
    const expected = createHash('sha256').update(id, 'utf8').digest('base64url');
    expect(sessionStoreKey(id)).toBe(expected);
    expect(Buffer.from(sessionStoreKey(id), 'base64url')).toHaveLength(32);
  });

  it('matches the published SHA-256 test vector for "abc"', () => {
    // FIPS 180-2: SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
    const hex = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(sessionStoreKey('abc')).toBe(Buffer.from(hex, 'hex').toString('base64url'));
  });

  it('is deterministic', () => {
    const id = generateSessionId();
    expect(sessionStoreKey(id)).toBe(sessionStoreKey(id));
  });

  it('never equals the id and does not contain it', () => {
    for (let i = 0; i < 1_000; i++) {
      const id = generateSessionId();
      const key = sessionStoreKey(id);
      expect(key).not.toBe(id);
      expect(key.includes(id)).toBe(false);
    }
  });

  it('gives different keys for different ids', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 1_000; i++) keys.add(sessionStoreKey(generateSessionId()));
    expect(keys.size).toBe(1_000);
  });
});

describe('generateSessionId across pool refills', () => {
  it('stays well formed and distinct over several batches of the CSPRNG pool', () => {
    const ids = Array.from({ length: 1000 }, () => generateSessionId());
    expect(new Set(ids).size).toBe(1000);
    for (const id of ids) expect(isWellFormedSessionId(id)).toBe(true);
    // No id of all-zero bytes (what a taken, zeroed slot would give).
    expect(ids).not.toContain(Buffer.alloc(32).toString('base64url'));
  });
});
