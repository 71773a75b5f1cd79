import { csrfTokenMatches, isCsrfSecret, maskCsrfSecret, newCsrfSecret } from './csrf-token.js';

/** Unmasks a token by hand: the second half XOR the first. */
function unmask(token: string): Buffer {
  const bytes = Buffer.from(token, 'base64url');
  const mask = bytes.subarray(0, 32);
  const masked = bytes.subarray(32);
  return Buffer.from(masked.map((byte, i) => byte ^ mask[i]));
}

/** `token` with the byte at `index` flipped in one bit, re-encoded. */
function flipByte(token: string, index: number): string {
  const bytes = Buffer.from(token, 'base64url');
  bytes[index] ^= 0x01;
  return bytes.toString('base64url');
}

describe('CSRF tokens', () => {
  it('a secret is 32 random bytes, base64url, different each time', () => {
    const a = newCsrfSecret();
    const b = newCsrfSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(isCsrfSecret(a)).toBe(true);
    expect(isCsrfSecret('short')).toBe(false);
    expect(isCsrfSecret(42)).toBe(false);
  });

  it('a token is mask || (mask XOR secret), 64 bytes in base64url', () => {
    const secret = newCsrfSecret();
    const token = maskCsrfSecret(secret);
    expect(token).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(64);
    expect(unmask(token).equals(Buffer.from(secret, 'base64url'))).toBe(true);
  });

  it('each mask is new: the same secret never gives the same token twice, and no token contains the secret', () => {
    const secret = newCsrfSecret();
    const tokens = new Set(Array.from({ length: 200 }, () => maskCsrfSecret(secret)));
    expect(tokens.size).toBe(200);
    for (const token of tokens) expect(token.includes(secret.slice(0, 10))).toBe(false);
  });

  it('every masked form of the secret matches, again and again (masking is not one-time)', () => {
    const secret = newCsrfSecret();
    for (let i = 0; i < 20; i++) {
      const token = maskCsrfSecret(secret);
      expect(csrfTokenMatches(token, secret)).toBe(true);
      expect(csrfTokenMatches(token, secret)).toBe(true);
    }
  });

  it('a token of another secret does not match', () => {
    const token = maskCsrfSecret(newCsrfSecret());
    expect(csrfTokenMatches(token, newCsrfSecret())).toBe(false);
  });

  it('a token with any byte changed does not match', () => {
    const secret = newCsrfSecret();
    const token = maskCsrfSecret(secret);
    for (const index of [0, 17, 31, 32, 48, 63]) {
      expect(csrfTokenMatches(flipByte(token, index), secret)).toBe(false);
    }
  });

  it('the secret itself, truncated, padded or non-canonical tokens do not match', () => {
    const secret = newCsrfSecret();
    const token = maskCsrfSecret(secret);
    expect(csrfTokenMatches(secret, secret)).toBe(false);
    expect(csrfTokenMatches(token.slice(0, 85), secret)).toBe(false);
    expect(csrfTokenMatches(`${token}A`, secret)).toBe(false);
    expect(csrfTokenMatches(`${token.slice(0, 84)}==`, secret)).toBe(false);
    expect(
      csrfTokenMatches(
        token.replace(/.$/, (c) => (c === '+' ? '/' : '+')),
        secret,
      ),
    ).toBe(false);
    expect(csrfTokenMatches('', secret)).toBe(false);
    // The last character carries 4 spare bits: a non-zero one is not a token this module wrote.
    const last = token.at(-1) ?? 'A';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const spareSet = alphabet[alphabet.indexOf(last) | 0b1];
    expect(spareSet).not.toBe(last);
    expect(csrfTokenMatches(token.slice(0, 85) + spareSet, secret)).toBe(false);
  });

  it('a corrupted secret in the session matches nothing', () => {
    const token = maskCsrfSecret(newCsrfSecret());
    expect(csrfTokenMatches(token, 'not-a-secret')).toBe(false);
  });
});
