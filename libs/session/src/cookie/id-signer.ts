import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { isWellFormedSessionId } from './session-id.js';
import { validateSecrets } from './secrets.js';

/** Domain separation: keys derived here are never the keys the cookie sealer derives. */
const HKDF_INFO = 'novanest-session id-signature v1';
const HMAC_KEY_BYTES = 32;
/** base64url of a 32-byte HMAC-SHA256 tag, without padding. */
const SIGNATURE_LENGTH = 43;
const SIGNATURE_ALPHABET = /^[A-Za-z0-9_-]{43}$/;
/** `<43-char id>.<43-char signature>`: anything of another length is rejected before any work. */
const SIGNED_LENGTH = 43 + 1 + SIGNATURE_LENGTH;

/**
 * Signs session ids for the cookie (`<id>.<signature>`) with HMAC-SHA256 and verifies them in
 * constant time. The first secret signs; every secret verifies, so secrets can be rotated by
 * putting the new one first and keeping the old one until its cookies have expired.
 */
export class SessionIdSigner {
  /** One HMAC key per secret, in the order given; index 0 signs. */
  private readonly keys: readonly Buffer[];

  /**
   * @param secrets One secret, or a list with the signing secret first. Each must be at least
   *   32 bytes (UTF-8). Throws `SessionOptionsError` otherwise.
   */
  constructor(secrets: string | readonly string[]) {
    this.keys = validateSecrets(secrets).map(deriveHmacKey);
  }

  /** `${id}.${signature}`, signed with the first secret. */
  sign(id: string): string {
    return `${id}.${this.signatureFor(this.keys[0], id)}`;
  }

  /**
   * The id inside a signed cookie value, or `undefined` when the value is malformed or no secret
   * verifies it. `stale` is true when a secret other than the first verified it: the caller
   * should re-sign. Never throws.
   */
  unsign(value: string): { id: string; stale: boolean } | undefined {
    if (typeof value !== 'string' || value.length !== SIGNED_LENGTH) return undefined;
    const dot = value.lastIndexOf('.');
    if (dot === -1) return undefined;
    const id = value.slice(0, dot);
    const signature = value.slice(dot + 1);
    if (!isWellFormedSessionId(id) || !SIGNATURE_ALPHABET.test(signature)) return undefined;

    // Comparing the base64url text (not the decoded bytes) also rejects non-canonical encodings
    // of a valid tag, so each valid cookie value has exactly one spelling.
    const presented = Buffer.from(signature, 'ascii');
    for (let index = 0; index < this.keys.length; index++) {
      const expected = Buffer.from(this.signatureFor(this.keys[index], id), 'ascii');
      if (expected.length === presented.length && timingSafeEqual(expected, presented)) {
        return { id, stale: index !== 0 };
      }
    }
    return undefined;
  }

  private signatureFor(key: Buffer, id: string): string {
    return createHmac('sha256', key).update(id, 'utf8').digest('base64url');
  }
}

/**
 * HKDF-SHA256 with an empty salt: the secrets are meant to be random, so HKDF here separates
 * purposes (the info label) rather than stretching a password.
 */
function deriveHmacKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), HKDF_INFO, HMAC_KEY_BYTES));
}
