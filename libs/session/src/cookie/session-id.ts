import { createHash, randomBytes } from 'node:crypto';

/** 32 random bytes, base64url without padding: 43 characters. */
const ID_BYTES = 32;
const ID_LENGTH = 43;
const ID_ALPHABET = /^[A-Za-z0-9_-]{43}$/;

/** Ids drawn from the CSPRNG per call to it: one call per 128 ids instead of one per id. */
const POOLED_IDS = 128;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * A new session id: 256 bits from the operating system's CSPRNG (`crypto.randomBytes`),
 * base64url. Bytes are drawn in batches, and each id's bytes are zeroed once it is taken, so
 * the pool never holds an id that has been handed out.
 */
export function generateSessionId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(ID_BYTES * POOLED_IDS);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
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
