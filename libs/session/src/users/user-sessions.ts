import { createHash } from 'node:crypto';
import { SessionValueError } from '../session.exceptions.js';
import { type StoredSession, USER_BINDING_KEY, type UserSessionRecord } from '../stores/session.store.js';

/** What an application may record about the device of a session it binds to a user. */
export interface UserSessionMetadata {
  /** The browser's `User-Agent` header, say. Cut to 512 characters. */
  userAgent?: string;
  /** The client's address as the platform sees it (trust proxy respected), say. Cut to 64 characters. */
  ip?: string;
}

/** One of a user's sessions, as `SessionService.listUserSessions` lists it. */
export interface UserSessionInfo {
  /**
   * An opaque name for the session, stable for its life: derived from the store key (itself a
   * SHA-256 of the id), so it is neither the cookie value nor a way to it. Pass it to
   * `revokeUserSession`.
   */
  handle: string;
  /** When the session started (login, or its last `regenerate`), in ms since the epoch. */
  createdAt: number;
  /**
   * When the session was last written or its idle timeout last slid, in ms since the epoch.
   * A read moves it only when it slides the idle timeout (once it would gain a minute, or a
   * tenth of the idle timeout when that is shorter), so it may lag the last request by that much.
   */
  lastSeenAt: number;
  userAgent?: string;
  ip?: string;
  /** The session of the request passed to `listUserSessions`. */
  current: boolean;
}

/** The user binding as the handle keeps it in the record, under `USER_BINDING_KEY`. Internal. */
export interface UserBinding {
  id: string;
  userAgent?: string;
  ip?: string;
  /** Last write or idle-timeout touch, ms since the epoch. */
  seenAt: number;
  /** When `bindUser` ran, ms since the epoch: a cookie store's "valid after" is checked against it. */
  since: number;
}

/** Longest user id accepted by `bindUser`, in characters. */
const MAX_USER_ID_LENGTH = 256;
const MAX_USER_AGENT_LENGTH = 512;
const MAX_IP_LENGTH = 64;

/**
 * Thrown at the call (`bindUser`, and `SessionService`'s calls for a user's sessions) when the
 * configured store keeps no per-user index: the Nova-style and express-session adapters, and the
 * cookie store (which, given a `revocation` store, supports `bindUser` and
 * `revokeUserSessions`, not listing). The message names the store and what to use instead.
 */
export class SessionUserIndexUnsupportedError extends Error {
  override readonly name = 'SessionUserIndexUnsupportedError';
  constructor(storeName: string, detail?: string) {
    super(
      detail ??
        `${storeName} cannot list or revoke a user's sessions (it keeps no per-user index): ` +
          'use MemoryStore, RedisStore or PostgresStore for bindUser and SessionService.listUserSessions / revokeUserSession(s)',
    );
  }
}

/** Checks a user id for `bindUser`; throws `SessionValueError` with the reason. */
export function assertUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
    throw new SessionValueError(`bindUser needs a user id: a non-empty string of at most ${MAX_USER_ID_LENGTH} characters`);
  }
}

function cut(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  let text = value.slice(0, max);
  // A cut through a surrogate pair must not leave a lone half (PostgreSQL's jsonb refuses it).
  if (/[\uD800-\uDBFF]$/.test(text)) text = text.slice(0, -1);
  return text;
}

/** The binding `bindUser` stores: metadata that is not a string is left out, long strings are cut. */
export function userBinding(userId: string, metadata: UserSessionMetadata | undefined, now: number): UserBinding {
  const binding: UserBinding = { id: userId, seenAt: now, since: now };
  const userAgent = cut(metadata?.userAgent, MAX_USER_AGENT_LENGTH);
  const ip = cut(metadata?.ip, MAX_IP_LENGTH);
  if (userAgent !== undefined) binding.userAgent = userAgent;
  if (ip !== undefined) binding.ip = ip;
  return binding;
}

/** The binding stored in a record's data, or `undefined` when it holds none (or a malformed one). */
export function readUserBinding(data: ReadonlyMap<string, unknown>): UserBinding | undefined {
  const value = data.get(USER_BINDING_KEY);
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, userAgent, ip, seenAt, since } = value as Record<string, unknown>;
  if (typeof id !== 'string') return undefined;
  const binding: UserBinding = { id, seenAt: typeof seenAt === 'number' ? seenAt : 0, since: typeof since === 'number' ? since : 0 };
  if (typeof userAgent === 'string') binding.userAgent = userAgent;
  if (typeof ip === 'string') binding.ip = ip;
  return binding;
}

/** The public handle of the record under `key`: a digest of it, 22 base64url characters (128 bits). */
export function userSessionHandle(key: string): string {
  return createHash('sha256').update('novanest-session-handle:').update(key).digest('base64url').slice(0, 22);
}

/** What `listUserSessions` reports of one record. */
export function userSessionInfo(record: UserSessionRecord, currentKeys: ReadonlySet<string>): UserSessionInfo {
  const session: StoredSession = record.session;
  const binding = readUserBinding(session.data);
  const info: UserSessionInfo = {
    handle: userSessionHandle(record.key),
    createdAt: session.createdAt,
    lastSeenAt: Math.max(session.createdAt, binding?.seenAt ?? 0),
    current: currentKeys.has(record.key),
  };
  if (binding?.userAgent !== undefined) info.userAgent = binding.userAgent;
  if (binding?.ip !== undefined) info.ip = binding.ip;
  return info;
}
