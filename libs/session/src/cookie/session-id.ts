import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes, base64url without padding: 43 characters. */
const ID_BYTES = 32;
const ID_LENGTH = 43;
const ID_ALPHABET = /^[A-Za-z0-9_-]{43}$/;

/** A new session id: 256 bits from the operating system's CSPRNG, base64url. */
export function generateSessionId(): string {
  return randomBytes(ID_BYTES).toString('base64url');
}

/**
 * True when `value` has exactly the shape `generateSessionId` produces. Checked before any
 * store call, so garbage never reaches the store. The canonical round trip rejects strings
 * whose last character carries bits that 32 bytes cannot have.
 */
export function isWellFormedSessionId(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== ID_LENGTH || !ID_ALPHABET.test(value)) {
    return false;
  }
  return Buffer.from(value, 'base64url').toString('base64url') === value;
}

/** The key a store holds a session under: SHA-256 of the id, base64url. */
export function sessionStoreKey(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
