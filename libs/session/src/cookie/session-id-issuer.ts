import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { isWellFormedSessionId } from './session-id.js';
import { RandomPool } from './random-pool.js';
import { validateSecrets } from './secrets.js';

/** Domain separation: never the key the id signer or the cookie sealer derives from a secret. */
const HKDF_INFO = 'novanest-session id-issuer v1';
const KEY_BYTES = 32;

/**
 * An issued id's 32 bytes: the random part, the issue time (whole seconds since the epoch,
 * big-endian uint32, good until 2106) and a tag (HMAC-SHA256 over the first two, cut to 8
 * bytes). 160 random bits keep an id unguessable; the tag proves, without any store I/O,
 * that a server holding the key minted the id, and when.
 */
const RANDOM_BYTES = 20;
const TIME_BYTES = 4;
const TAG_BYTES = 8;
const SIGNED_BYTES = RANDOM_BYTES + TIME_BYTES;
const ID_BYTES = SIGNED_BYTES + TAG_BYTES;

/**
 * How far in the future an issue time may lie and still count: another node's clock may be a
 * little ahead of ours. A tag is unforgeable without the key, so this only absorbs clock skew.
 */
const MAX_CLOCK_SKEW_MS = 60_000;

/**
 * The end of an id's adoption window, counted from `since` (its issue time, or the creation of
 * its record, which is never earlier), plus the clock skew allowed between nodes: until then a
 * removal must leave a destroy mark. One rule for every removal (see `StorePersistence.markUntil`). Internal.
 */
export function adoptionWindowEnd(since: number, idleTimeoutMs: number): number {
  return since + idleTimeoutMs + MAX_CLOCK_SKEW_MS;
}

/**
 * Mints the session ids of one application and recognises them later (Nova keeps the id it
 * issued): the key comes from the `secret` option (every secret recognises, the first
 * mints), so nodes configured with the same secret recognise each other's ids; without a
 * secret, from 32 random bytes drawn once per process, so only this process recognises them
 * (and not after a restart).
 * Internal.
 */
export class SessionIdIssuer {
  /** One HMAC key per secret; index 0 mints. */
  private readonly keys: readonly Buffer[];
  private readonly random = new RandomPool(RANDOM_BYTES, 128);
  /** Whether the key is shared through configuration (false: made at start-up, this process only). */
  readonly shared: boolean;

  constructor(secrets?: string | readonly string[]) {
    this.shared = secrets !== undefined;
    this.keys = secrets === undefined ? [processKey()] : validateSecrets(secrets).map(deriveIssuerKey);
  }

  /** A new id: 43 base64url characters, the shape every id has (`isWellFormedSessionId`). */
  issue(now = Date.now()): string {
    const id = Buffer.alloc(ID_BYTES);
    this.random.take((pool, start, end) => pool.copy(id, 0, start, end));
    id.writeUInt32BE(Math.floor(now / 1000), RANDOM_BYTES);
    this.tag(this.keys[0], id).copy(id, SIGNED_BYTES);
    const text = id.toString('base64url');
    id.fill(0);
    return text;
  }

  /**
   * When this application issued `id` (epoch ms, whole seconds), or `undefined` when it did
   * not: malformed, untagged (planted, or minted before ids carried a tag), tagged under a key
   * we do not hold, or dated further ahead than clock skew explains. Constant time per key.
   */
  issuedAt(id: string, now = Date.now()): number | undefined {
    if (!isWellFormedSessionId(id)) return undefined;
    const bytes = Buffer.from(id, 'base64url');
    if (bytes.length !== ID_BYTES) return undefined;
    const presented = bytes.subarray(SIGNED_BYTES);
    const recognised = this.keys.some((key) => timingSafeEqual(this.tag(key, bytes), presented));
    if (!recognised) return undefined;
    const issuedAt = bytes.readUInt32BE(RANDOM_BYTES) * 1000;
    return issuedAt > now + MAX_CLOCK_SKEW_MS ? undefined : issuedAt;
  }

  private tag(key: Buffer, id: Buffer): Buffer {
    return createHmac('sha256', key).update(id.subarray(0, SIGNED_BYTES)).digest().subarray(0, TAG_BYTES);
  }
}

/** The key of applications without a secret: one per process, drawn when first needed. */
let processWideKey: Buffer | undefined;

function processKey(): Buffer {
  processWideKey ??= randomBytes(KEY_BYTES);
  return processWideKey;
}

/** HKDF-SHA256, empty salt: the secrets are random already; the label separates purposes. */
function deriveIssuerKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), HKDF_INFO, KEY_BYTES));
}
