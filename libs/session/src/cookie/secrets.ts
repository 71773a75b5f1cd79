import { SessionOptionsError } from '../session.exceptions.js';

/** Shortest secret accepted, in UTF-8 bytes: 256 bits, the HMAC-SHA256 and AES-256 key size. */
export const MIN_SECRET_BYTES = 32;

/**
 * Checks the `secret` option of the signer and the cookie sealer: one secret or a list with
 * the newest first, each at least 32 bytes. Throws one clear sentence otherwise.
 */
export function validateSecrets(secrets: string | readonly string[]): readonly string[] {
  const list: readonly unknown[] = typeof secrets === 'string' ? [secrets] : secrets;
  if (!Array.isArray(list)) {
    throw new SessionOptionsError('session secret must be a string or an array of strings');
  }
  if (list.length === 0) {
    throw new SessionOptionsError('session secret list must contain at least one secret');
  }
  for (const secret of list) {
    if (typeof secret !== 'string') {
      throw new SessionOptionsError('session secret must be a string or an array of strings');
    }
    if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
      throw new SessionOptionsError(`session secret must be at least ${MIN_SECRET_BYTES} bytes`);
    }
  }
  return list as readonly string[];
}
