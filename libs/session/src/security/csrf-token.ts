import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of a session's CSRF secret, and of each token's mask. */
const SECRET_BYTES = 32;
/** A secret as the session keeps it: 32 bytes, base64url (43 characters). */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** A masked token: mask and masked secret, 64 bytes, base64url (86 characters). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{86}$/;

/** A new CSRF secret for a session: 32 random bytes, base64url. Internal. */
export function newCsrfSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** Whether a value read from a session is a CSRF secret this module made. Internal. */
export function isCsrfSecret(value: unknown): value is string {
  return typeof value === 'string' && SECRET_SHAPE.test(value);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/**
 * A token for `secret`, masked with fresh random bytes: `base64url(mask || mask XOR secret)`.
 * Every call answers a different string for the same secret, so a response body that carries
 * the token never repeats it and compression cannot leak it byte by byte (BREACH). Internal.
 */
export function maskCsrfSecret(secret: string): string {
  const raw = Buffer.from(secret, 'base64url');
  const mask = randomBytes(SECRET_BYTES);
  return Buffer.concat([mask, xor(mask, raw)]).toString('base64url');
}

/**
 * Whether `token` is a masked form of `secret` (any mask: masking is not one-time). The
 * token's shape is checked first (its length is no secret); the unmasked bytes are compared
 * with the secret in constant time. Internal.
 */
export function csrfTokenMatches(token: string, secret: string): boolean {
  if (!TOKEN_SHAPE.test(token) || !isCsrfSecret(secret)) return false;
  const bytes = Buffer.from(token, 'base64url');
  // 86 base64url characters carry 64 bytes and 4 spare bits, which a strict encoder leaves 0.
  if (bytes.length !== 2 * SECRET_BYTES || bytes.toString('base64url') !== token) return false;
  const unmasked = xor(bytes.subarray(0, SECRET_BYTES), bytes.subarray(SECRET_BYTES));
  return timingSafeEqual(unmasked, Buffer.from(secret, 'base64url'));
}
