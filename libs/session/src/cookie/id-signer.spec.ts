import { createHmac, hkdfSync } from 'node:crypto';
import { SessionOptionsError } from '../session.exceptions.js';
import { SessionIdSigner } from './id-signer.js';
import { generateSessionId } from './session-id.js';

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const OLD_SECRET = 'old-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const NEW_SECRET = 'new-secret-0123456789abcdefghijklmnopqrstuvwxyz';

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

/** `value` with the character at `index` replaced by another base64url character. */
function withCharAt(value: string, index: number, replacement: string): string {
  return value.slice(0, index) + replacement + value.slice(index + 1);
}

/** A few different characters for each position, including ones that differ only in low bits. */
function replacementsFor(char: string): string[] {
  const at = BASE64URL_ALPHABET.indexOf(char);
  const candidates = [at ^ 0b1, at ^ 0b10, at ^ 0b100000, (at + 17) % 64];
  return candidates.map((i) => BASE64URL_ALPHABET[i]).filter((c) => c !== char);
}

describe('SessionIdSigner', () => {
  describe('sign and unsign', () => {
    it('round-trips a session id with the first secret, not stale', () => {
      const signer = new SessionIdSigner(NEW_SECRET);
      const id = generateSessionId();
      const signed = signer.sign(id);
      expect(signed).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
      expect(signed.startsWith(`${id}.`)).toBe(true);
      expect(signer.unsign(signed)).toEqual({ id, stale: false });
    });

    it('signs with HMAC-SHA256 under an HKDF-SHA256 key labelled for id signatures', () => {
      const id = generateSessionId();
      const key = Buffer.from(hkdfSync('sha256', NEW_SECRET, Buffer.alloc(0), 'novanest-session id-signature v1', 32));
      const expected = createHmac('sha256', key).update(id).digest('base64url');
      expect(new SessionIdSigner(NEW_SECRET).sign(id)).toBe(`${id}.${expected}`);
      // The secret itself is not the HMAC key.
      const naive = createHmac('sha256', NEW_SECRET).update(id).digest('base64url');
      expect(expected).not.toBe(naive);
    });

    it('is deterministic for one secret and accepts a single-element list like a string', () => {
      const id = generateSessionId();
      expect(new SessionIdSigner(NEW_SECRET).sign(id)).toBe(new SessionIdSigner([NEW_SECRET]).sign(id));
    });

    it('gives different signatures for different secrets', () => {
      const id = generateSessionId();
      const a = new SessionIdSigner(OLD_SECRET).sign(id);
      const b = new SessionIdSigner(NEW_SECRET).sign(id);
      expect(a).not.toBe(b);
      expect(new SessionIdSigner(NEW_SECRET).unsign(a)).toBeUndefined();
      expect(new SessionIdSigner(OLD_SECRET).unsign(b)).toBeUndefined();
    });

    it('gives different signatures for different ids', () => {
      const signer = new SessionIdSigner(NEW_SECRET);
      const first = signer.sign(generateSessionId()).split('.')[1];
      const second = signer.sign(generateSessionId()).split('.')[1];
      expect(first).not.toBe(second);
    });
  });

  describe('tampering', () => {
    const signer = new SessionIdSigner(NEW_SECRET);
    const id = generateSessionId();
    const signed = signer.sign(id);

    it('rejects a change of any single character of the id', () => {
      let tried = 0;
      for (let index = 0; index < 43; index++) {
        for (const replacement of replacementsFor(signed[index])) {
          expect(signer.unsign(withCharAt(signed, index, replacement))).toBeUndefined();
          tried++;
        }
      }
      expect(tried).toBeGreaterThan(43 * 2);
    });

    it('rejects a change of any single character of the signature, low bits included', () => {
      let tried = 0;
      for (let index = 44; index < signed.length; index++) {
        for (const replacement of replacementsFor(signed[index])) {
          expect(signer.unsign(withCharAt(signed, index, replacement))).toBeUndefined();
          tried++;
        }
      }
      expect(tried).toBeGreaterThan(43 * 2);
    });

    it('rejects a value whose separator was replaced', () => {
      for (const separator of ['', '-', '_', 'A', ',', ':']) {
        expect(signer.unsign(withCharAt(signed, 43, separator))).toBeUndefined();
      }
    });

    it('rejects an unsigned id', () => {
      expect(signer.unsign(id)).toBeUndefined();
      expect(signer.unsign(`${id}.`)).toBeUndefined();
    });

    it('rejects the signature of one id attached to another id', () => {
      const signature = signed.slice(44);
      expect(signer.unsign(`${generateSessionId()}.${signature}`)).toBeUndefined();
    });

    it('rejects a signed value with extra characters before or after it', () => {
      expect(signer.unsign(`${signed}A`)).toBeUndefined();
      expect(signer.unsign(`A${signed}`)).toBeUndefined();
      expect(signer.unsign(`${signed}.${signed.slice(44)}`)).toBeUndefined();
      expect(signer.unsign(` ${signed}`)).toBeUndefined();
      expect(signer.unsign(`${signed}\n`)).toBeUndefined();
    });

    it('rejects a well-formed signature over an id that is not a session id', () => {
      // An attacker-chosen "id" signed with the right key must still fail the id format check.
      const key = Buffer.from(hkdfSync('sha256', NEW_SECRET, Buffer.alloc(0), 'novanest-session id-signature v1', 32));
      const bogusId = `${'A'.repeat(42)}B`; // 43 chars, non-canonical last character
      const signature = createHmac('sha256', key).update(bogusId).digest('base64url');
      expect(signer.unsign(`${bogusId}.${signature}`)).toBeUndefined();
    });
  });

  describe('rotation', () => {
    it('verifies a cookie signed with an older secret as stale, and the re-signed value as fresh', () => {
      const id = generateSessionId();
      const oldCookie = new SessionIdSigner(OLD_SECRET).sign(id);
      const rotated = new SessionIdSigner([NEW_SECRET, OLD_SECRET]);

      expect(rotated.unsign(oldCookie)).toEqual({ id, stale: true });

      const resigned = rotated.sign(id);
      expect(resigned).not.toBe(oldCookie);
      expect(resigned).toBe(new SessionIdSigner(NEW_SECRET).sign(id));
      expect(rotated.unsign(resigned)).toEqual({ id, stale: false });
    });

    it('marks every non-first secret as stale', () => {
      const third = 'third-secret-0123456789abcdefghijklmnopqrstuvwxyz';
      const id = generateSessionId();
      const signer = new SessionIdSigner([NEW_SECRET, OLD_SECRET, third]);
      expect(signer.unsign(new SessionIdSigner(third).sign(id))).toEqual({ id, stale: true });
      expect(signer.unsign(new SessionIdSigner(OLD_SECRET).sign(id))).toEqual({ id, stale: true });
      expect(signer.unsign(new SessionIdSigner(NEW_SECRET).sign(id))).toEqual({ id, stale: false });
    });

    it('invalidates cookies of a secret once it is removed', () => {
      const id = generateSessionId();
      const oldCookie = new SessionIdSigner([OLD_SECRET]).sign(id);
      expect(new SessionIdSigner([NEW_SECRET, OLD_SECRET]).unsign(oldCookie)).toEqual({ id, stale: true });
      expect(new SessionIdSigner([NEW_SECRET]).unsign(oldCookie)).toBeUndefined();
    });
  });

  describe('secrets', () => {
    it('refuses a secret shorter than 32 bytes with one sentence', () => {
      expectOptionsError(() => new SessionIdSigner('x'.repeat(31)), 'session secret must be at least 32 bytes');
    });

    it('refuses a short secret anywhere in the list', () => {
      expectOptionsError(() => new SessionIdSigner([NEW_SECRET, 'short']), 'session secret must be at least 32 bytes');
    });

    it('counts UTF-8 bytes, not characters', () => {
      // 16 two-byte characters are 32 bytes: accepted. 15 of them are 30 bytes: refused.
      expect(() => new SessionIdSigner('é'.repeat(16))).not.toThrow();
      expectOptionsError(() => new SessionIdSigner('é'.repeat(15)), 'session secret must be at least 32 bytes');
      expect(() => new SessionIdSigner('x'.repeat(32))).not.toThrow();
    });

    it('refuses an empty string and an empty list', () => {
      expectOptionsError(() => new SessionIdSigner(''), 'session secret must be at least 32 bytes');
      expectOptionsError(() => new SessionIdSigner([]), 'session secret list must contain at least one secret');
    });

    it('refuses secrets that are not strings (untyped callers)', () => {
      for (const bad of [undefined, null, 42, {}, [42], [Buffer.alloc(64)]]) {
        expectOptionsError(() => new SessionIdSigner(bad as unknown as string), 'session secret must be a string or an array of strings');
      }
    });
  });

  describe('garbage input', () => {
    const signer = new SessionIdSigner([NEW_SECRET, OLD_SECRET]);
    const id = generateSessionId();
    const signature = signer.sign(id).slice(44);

    it.each([
      ['empty', ''],
      ['a dot', '.'],
      ['dots only', '.'.repeat(87)],
      ['a.b.c', 'a.b.c'],
      ['many dots', `${id}.${signature}.`.repeat(3)],
      ['a dot inside the id', `${id.slice(0, 20)}.${id.slice(21)}.${signature}`],
      ['10 KB', 'A'.repeat(10 * 1024)],
      ['10 KB with a dot', `${'A'.repeat(5 * 1024)}.${'A'.repeat(5 * 1024)}`],
      ['unicode', `${id.slice(0, 42)}é.${signature}`],
      ['emoji', `😀${id.slice(2)}.${signature}`],
      ['a NUL', `${id}.${signature.slice(0, 42)}\u0000`],
      ['base64 padding', `${id}.${signature.slice(0, 42)}=`],
      ['base64 "+"', `${id}.+${signature.slice(1)}`],
      ['the signature first', `${signature}.${id}`],
      ['a space separator', `${id} ${signature}`],
    ])('returns undefined for %s', (_label, value) => {
      expect(() => signer.unsign(value)).not.toThrow();
      expect(signer.unsign(value)).toBeUndefined();
    });

    it('returns undefined for values that are not strings (untyped callers)', () => {
      for (const bad of [undefined, null, 42, {}, [signer.sign(id)]]) {
        expect(signer.unsign(bad as unknown as string)).toBeUndefined();
      }
    });
  });
});
