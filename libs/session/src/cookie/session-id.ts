import { hash } from 'node:crypto';
import { RandomPool } from './random-pool.js';

/** 32 random bytes, base64url without padding: 43 characters. */
const ID_BYTES = 32;
/**
 * 43 base64url characters carry 258 bits, so the last one holds 2 bits that 32 bytes never set:
 * it is one of the 16 characters whose value is a multiple of 4. Anything else is not canonical.
 */
const ID_SHAPE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** Ids drawn from the CSPRNG per call to it: one call per 128 ids instead of one per id. */
const ids = new RandomPool(ID_BYTES, 128);

const base64url = (pool: Buffer, start: number, end: number): string => pool.toString('base64url', start, end);

/**
 * A new session id: 256 bits from the operating system's CSPRNG, base64url. Bytes are drawn in
 * batches, and each id's bytes are zeroed once it is taken, so the pool never holds an id that
 * has been handed out.
 */
export function generateSessionId(): string {
  return ids.take(base64url);
}

/**
 * True when `value` has exactly the shape `generateSessionId` produces. Checked before any
 * store call, so garbage never reaches the store. Strings whose last character carries bits
 * that 32 bytes cannot have are refused too (see `ID_SHAPE`): each id has one spelling.
 */
export function isWellFormedSessionId(value: unknown): value is string {
  return typeof value === 'string' && ID_SHAPE.test(value);
}

/** The key a store holds a session under: SHA-256 of the id, base64url. */
export function sessionStoreKey(id: string): string {
  return hash('sha256', id, 'base64url');
}
