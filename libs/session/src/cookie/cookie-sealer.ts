import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { RandomPool } from './random-pool.js';
import { isPlainObject } from '../session/session-value.js';
import { validateSecrets } from './secrets.js';

/** The whole session as it travels inside the cookie. Times are epoch milliseconds. */
export interface SealedSession {
  /** Session id. */
  id: string;
  /** When the session was created, epoch ms. Lets the caller enforce the absolute timeout. */
  createdAt: number;
  /** When the sealed cookie stops opening, epoch ms. Inside the seal, so the client cannot extend it. */
  expiresAt: number;
  /** Session values; JSON only. */
  data: Record<string, unknown>;
}

/** Domain separation from the id signer and between the two values derived per secret. */
const KEY_INFO = 'novanest-session cookie-seal v1';
const KID_INFO = 'novanest-session cookie-seal kid v1';
const KEY_BYTES = 32;
/** 6 bytes = 48 bits: 8 base64url characters, enough to tell a handful of live keys apart. */
const KID_BYTES = 6;
const KID_PATTERN = /^[A-Za-z0-9_-]{8}$/;
/** 96-bit random nonce, the GCM standard size. */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BODY_PATTERN = /^[A-Za-z0-9_-]+$/;
/**
 * Tokens longer than this are refused before any decoding. A cookie store caps sessions at
 * 4096 bytes, so a real token is never near it; the cap bounds the work a client can cause.
 */
const MAX_TOKEN_LENGTH = 8192;

interface SealingKey {
  kid: string;
  key: Buffer;
  /** The kid's bytes: the additional authenticated data of every token under this key. */
  aad: Buffer;
}

/**
 * Seals a whole session into a cookie value with AES-256-GCM, for the stateless cookie store.
 *
 * Token: `<kid>.<base64url(nonce(12) || ciphertext || tag(16))>`, where `kid` is a public,
 * HKDF-derived identifier of the key and is bound to the ciphertext as additional authenticated
 * data. The first secret seals; every secret opens, so secrets can be rotated by putting the new
 * one first. A sealed cookie cannot be revoked server-side: a copy stays valid until `expiresAt`.
 *
 * Random 96-bit nonces keep one key safe for about 2^32 seals (NIST SP 800-38D); rotate
 * secrets well before that.
 */
export class CookieSealer {
  /** One key per secret, in the order given; index 0 seals. */
  private readonly keys: readonly SealingKey[];

  /**
   * @param secrets One secret, or a list with the sealing secret first. Each must be at least
   *   32 bytes (UTF-8). Throws `SessionOptionsError` otherwise.
   */
  constructor(secrets: string | readonly string[]) {
    this.keys = validateSecrets(secrets).map(deriveSealingKey);
  }

  /**
   * Encrypts and authenticates `payload` with the first secret. Every call draws a fresh nonce,
   * so sealing the same payload twice gives different tokens. Throws `TypeError` for a payload
   * that `open` would refuse, or for data that JSON cannot hold (BigInt, cycles).
   */
  seal(payload: SealedSession): string {
    const { kid, key, aad } = this.keys[0];
    const plaintext = Buffer.from(sealedText(payload), 'utf8');
    const nonce = nonces.take(copyOut);
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${kid}.${Buffer.concat([nonce, ciphertext, tag]).toString('base64url')}`;
  }

  /**
   * The length of the token `seal(payload)` would return, without encrypting: GCM's ciphertext
   * is as long as the plaintext, so only the JSON text is needed. Lets a caller check the
   * cookie size limit on every change and seal once, when the response goes out. Throws as
   * `seal` does.
   */
  sealedLength(payload: SealedSession): number {
    const bytes = NONCE_BYTES + Buffer.byteLength(sealedText(payload), 'utf8') + TAG_BYTES;
    // Unpadded base64url: four characters per three bytes, rounded up.
    return this.keys[0].kid.length + 1 + Math.ceil((bytes * 4) / 3);
  }

  /**
   * The session inside `token`, or `undefined` when the token is malformed, was not sealed by one
   * of the secrets, was altered, or has expired (`expiresAt <= now`, epoch ms). `stale` is true
   * when a secret other than the first opened it: the caller should re-seal. Never throws.
   */
  open(token: string, now: number): { session: SealedSession; stale: boolean } | undefined {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return undefined;
    // A clock that is not a finite number cannot prove anything unexpired: fail closed.
    if (typeof now !== 'number' || !Number.isFinite(now)) return undefined;

    const dot = token.indexOf('.');
    if (dot === -1) return undefined;
    const kid = token.slice(0, dot);
    const body = decodeBody(token.slice(dot + 1));
    if (!KID_PATTERN.test(kid) || body === undefined) return undefined;

    for (let index = 0; index < this.keys.length; index++) {
      // Kids are 48 bits, so two secrets can share one; every key with the kid gets its try.
      if (this.keys[index].kid !== kid) continue;
      const plaintext = decrypt(this.keys[index], body);
      if (plaintext === undefined) continue;
      const session = parseSession(plaintext);
      if (session === undefined || session.expiresAt <= now) return undefined;
      return { session, stale: index !== 0 };
    }
    return undefined;
  }
}

/** The plaintext of a seal: the payload's four fields as JSON, after the checks `open` relies on. */
function sealedText(payload: SealedSession): string {
  assertSealable(payload);
  return JSON.stringify({
    id: payload.id,
    createdAt: payload.createdAt,
    expiresAt: payload.expiresAt,
    data: payload.data,
  });
}

/** Nonces drawn from the CSPRNG per call to it: one call per 256 seals instead of one per seal. */
const nonces = new RandomPool(NONCE_BYTES, 256);

/** A fresh 96-bit random nonce, copied out of the pool (which then zeroes its bytes). */
const copyOut = (pool: Buffer, start: number, end: number): Buffer => Buffer.from(pool.subarray(start, end));

/**
 * The raw bytes of a token body, or `undefined` unless it is canonical base64url long enough
 * for a nonce, a tag and at least one byte of ciphertext. Canonical means re-encoding gives the
 * same text: Node's decoder skips stray characters, and trailing garbage must not be ignored.
 */
function decodeBody(text: string): Buffer | undefined {
  if (!BODY_PATTERN.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) return undefined;
  if (bytes.length <= NONCE_BYTES + TAG_BYTES) return undefined;
  return bytes;
}

/** Authenticated decryption; `undefined` on any failure, including a wrong key. */
function decrypt({ key, aad }: SealingKey, body: Buffer): string | undefined {
  const nonce = body.subarray(0, NONCE_BYTES);
  const ciphertext = body.subarray(NONCE_BYTES, body.length - TAG_BYTES);
  const tag = body.subarray(body.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    // update() output is not trusted until final() has checked the tag.
    const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    return plaintext.toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * The session from authenticated plaintext, or `undefined` if it has the wrong shape. The
 * plaintext is ours, but a shape check costs little and guards against format drift. `data` is
 * returned as JSON.parse built it: a `__proto__` key there is an own data property, never a
 * prototype, and no copy by assignment happens that could turn it into one. Unknown top-level
 * fields are ignored so that a newer version's tokens still open during a rolling deploy.
 */
function parseSession(plaintext: string): SealedSession | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed)) return undefined;
  const { id, createdAt, expiresAt, data } = parsed;
  if (typeof id !== 'string') return undefined;
  if (!isFiniteNumber(createdAt) || !isFiniteNumber(expiresAt)) return undefined;
  if (!isPlainObject(data)) return undefined;
  return { id, createdAt, expiresAt, data };
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Refuses, at seal time, what `open` would refuse later, so a session is never silently lost. */
function assertSealable(payload: SealedSession): void {
  const candidate: unknown = payload;
  if (typeof candidate !== 'object' || candidate === null) {
    throw new TypeError('sealed session must be an object with id, createdAt, expiresAt and data');
  }
  const { id, createdAt, expiresAt, data } = candidate as Record<string, unknown>;
  if (typeof id !== 'string') {
    throw new TypeError('sealed session id must be a string');
  }
  if (!isFiniteNumber(createdAt) || !isFiniteNumber(expiresAt)) {
    throw new TypeError('sealed session createdAt and expiresAt must be finite numbers of epoch milliseconds');
  }
  if (!isPlainObject(data)) {
    throw new TypeError('sealed session data must be a plain object');
  }
}

/**
 * HKDF-SHA256 with an empty salt and two info labels: the AES key and the public kid come from
 * independent outputs, so publishing the kid reveals nothing about the key.
 */
function deriveSealingKey(secret: string): SealingKey {
  const ikm = Buffer.from(secret, 'utf8');
  const key = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), KEY_INFO, KEY_BYTES));
  const kid = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), KID_INFO, KID_BYTES)).toString('base64url');
  return { kid, key, aad: Buffer.from(kid, 'ascii') };
}
