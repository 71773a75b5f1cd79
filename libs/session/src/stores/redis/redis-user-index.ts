import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { runSessionScript, type ScriptedClient, script, type SessionScript } from './redis.scripts.js';

/**
 * Adds a session to a user's index (a sorted set: member the session's store key, score its
 * absolute deadline), trims the entries whose deadline has passed, and expires the whole set
 * with its last deadline. ARGV: now ms, deadline ms, member.
 */
const INDEX_ADD_LUA = `
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
redis.call('ZADD', key, ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', key, last[2])
return 1
`;

/** Trims the entries whose deadline has passed and answers the rest. ARGV: now ms. */
const INDEX_LIST_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

export const USER_INDEX_ADD = script('UserIndexAdd', INDEX_ADD_LUA);
export const USER_INDEX_LIST = script('UserIndexList', INDEX_LIST_LUA);

const USER_INDEX_SCRIPTS: readonly SessionScript[] = [USER_INDEX_ADD, USER_INDEX_LIST];

/**
 * `RedisStore`'s per-user index: one sorted set per user, `<prefix>user:<SHA-256 of the user
 * id>`, listing the store keys of the user's sessions, each scored by the session's absolute
 * deadline (no session outlives it, whatever its idle timeout does), so an entry is dropped at
 * the latest when its session could no longer exist, and the set itself expires with its last
 * entry: the index never holds more than the sessions the user started within one absolute
 * timeout. Every add and every list trims the passed deadlines first.
 *
 * Cluster: the index and the sessions hash to different slots, and each call here names one
 * key, so nothing needs hash tags or a cross-slot script. Adding to the index and committing
 * the session are therefore two round trips, in that order: a session that exists bound to a
 * user is always in the user's index (the reverse, an entry whose commit then failed, is
 * harmless: the list reads each session and skips what is gone or bound to someone else).
 * Internal.
 */
export class RedisUserIndex {
  private readonly scripted: ScriptedClient;

  constructor(
    client: Redis | Cluster,
    private readonly prefix: string,
  ) {
    const scripted = client as ScriptedClient;
    for (const { command, numberOfKeys, lua } of USER_INDEX_SCRIPTS) {
      if (typeof scripted[command] !== 'function') client.defineCommand(command, { numberOfKeys, lua });
    }
    this.scripted = scripted;
  }

  /** The Redis key of a user's index (`:` never occurs in a session key, so the two cannot meet). */
  indexKey(userId: string): string {
    return `${this.prefix}user:${createHash('sha256').update(userId).digest('base64url')}`;
  }

  /** One round trip: files the session under the user until `deadline` (ms since the epoch). */
  async add(userId: string, key: string, deadline: number): Promise<void> {
    await runSessionScript(this.scripted, USER_INDEX_ADD, this.indexKey(userId), [String(Date.now()), String(deadline), key]);
  }

  /** One round trip: the store keys filed under the user, trimmed of passed deadlines. */
  async members(userId: string): Promise<string[]> {
    const reply = await runSessionScript(this.scripted, USER_INDEX_LIST, this.indexKey(userId), [String(Date.now())]);
    return Array.isArray(reply) ? reply.map((member) => (Buffer.isBuffer(member) ? member.toString('utf8') : String(member))) : [];
  }

  /** One round trip: drops entries whose sessions ended or belong to someone else now. */
  async remove(userId: string, keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.scripted.zrem(this.indexKey(userId), ...keys);
  }
}
