import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { parseStoredValue } from '../session-value.js';
import { SessionStore, type SessionWrite, type StoredSession } from './session.store.js';

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /**
   * A connected ioredis client: a `Redis` or a `Cluster`. The store never closes it; you own its
   * life. Make commands fail fast while Redis is down (`enableOfflineQueue: false`, or a small
   * `maxRetriesPerRequest` / `commandTimeout`), or requests wait for the reconnect before they
   * get their 503.
   */
  client: Redis | Cluster;
  /** Prepended to every Redis key this store writes. Default: `'sess:'`. */
  prefix?: string;
}

/** Hash field holding the creation time (ms since the epoch). Data fields all start with `d:`. */
const CREATED_FIELD = 'm:created';
const DATA_PREFIX = 'd:';

/** Arguments pushed to `HSET`/`HDEL` per call inside the scripts (Lua's `unpack` has a stack limit). */
const LUA_CHUNK = 1000;

/**
 * Reads a session in one round trip: the remaining TTL, then the hash as a flat field/value
 * array (parsed by us, never by a client-side object builder, so a field named `__proto__`
 * stays data). Nothing when the key is gone.
 */
const LOAD_SCRIPT = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
return {ttl, redis.call('HGETALL', KEYS[1])}
`;

/**
 * Applies one request's changes atomically. ARGV: mode ('c' | 'u'), ttl ms, createdAt ms,
 * clear ('1' | '0'), number of fields to delete, those fields, then field/value pairs to set.
 * An update of a missing hash writes nothing and answers 0: a destroy that ran first wins.
 */
const COMMIT_SCRIPT = `
local key = KEYS[1]
local ttl = tonumber(ARGV[2])
if ARGV[1] == 'u' then
  if redis.call('EXISTS', key) == 0 then return 0 end
  if ARGV[4] == '1' then
    local created = redis.call('HGET', key, '${CREATED_FIELD}')
    redis.call('DEL', key)
    redis.call('HSET', key, '${CREATED_FIELD}', created)
  end
else
  redis.call('DEL', key)
  redis.call('HSET', key, '${CREATED_FIELD}', ARGV[3])
end
local deletes = tonumber(ARGV[5])
local first = 6
local last = 5 + deletes
while first <= last do
  local upto = math.min(first + ${LUA_CHUNK} - 1, last)
  redis.call('HDEL', key, unpack(ARGV, first, upto))
  first = upto + 1
end
first = 6 + deletes
while first <= #ARGV do
  local upto = math.min(first + ${LUA_CHUNK} - 1, #ARGV)
  redis.call('HSET', key, unpack(ARGV, first, upto))
  first = upto + 1
end
if ttl <= 0 then
  redis.call('DEL', key)
else
  redis.call('PEXPIRE', key, ttl)
end
return 1
`;

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const LOAD = script(LOAD_SCRIPT);
const COMMIT = script(COMMIT_SCRIPT);

function isNoScriptError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function asText(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/**
 * Sessions in Redis, one hash per session: each session key is a hash field holding its JSON
 * value, so requests that change different keys never overwrite each other. Loading is one
 * round trip and so is a commit (a Lua script: HSET/HDEL and PEXPIRE applied atomically,
 * refusing to recreate a session destroyed meanwhile). Every command names a single key, so
 * the store runs on Redis Cluster. Expiry is Redis's own TTL: no sweeping needed.
 *
 * ```ts
 * SessionModule.forRoot(new RedisStore({ client: new Redis(process.env.REDIS_URL) }))
 * ```
 */
export class RedisStore extends SessionStore {
  protected readonly client: Redis | Cluster;
  protected readonly prefix: string;

  constructor(options: RedisStoreOptions) {
    super();
    const { client, prefix = 'sess:' } = options ?? ({} as RedisStoreOptions);
    if (client === undefined || client === null || typeof (client as Redis).evalsha !== 'function') {
      throw new Error('RedisStore needs an ioredis client: new RedisStore({ client: new Redis(url) })');
    }
    if (typeof prefix !== 'string') {
      throw new Error(`RedisStore prefix must be a string, got ${typeof prefix}`);
    }
    this.client = client;
    this.prefix = prefix;
  }

  async get(key: string): Promise<StoredSession | undefined> {
    const reply = await this.run(LOAD, key, []);
    if (!Array.isArray(reply)) return undefined;
    const [ttl, flat] = reply as [unknown, unknown];
    if (!Array.isArray(flat)) return undefined;
    const data = new Map<string, unknown>();
    let createdAt: number | undefined;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = asText(flat[i]);
      const value = asText(flat[i + 1]);
      if (field.startsWith(DATA_PREFIX)) {
        data.set(field.slice(DATA_PREFIX.length), parseStoredValue(value));
      } else if (field === CREATED_FIELD) {
        createdAt = Number(value);
      }
    }
    // A hash without our creation stamp was not written by this store: not a session.
    if (createdAt === undefined || !Number.isFinite(createdAt)) return undefined;
    const remaining = Number(ttl);
    // PTTL -1 (no expiry) only happens if someone removed the TTL by hand; treat it as far away.
    const expiresAt = remaining < 0 ? Number.MAX_SAFE_INTEGER : Date.now() + remaining;
    return { data, createdAt, expiresAt };
  }

  async write(key: string, change: SessionWrite): Promise<boolean> {
    const args: string[] = [
      change.mode === 'create' ? 'c' : 'u',
      String(Math.ceil(change.ttl)),
      String(change.createdAt),
      change.mode === 'update' && change.clear ? '1' : '0',
    ];
    const deleted = change.mode === 'update' ? change.delete : [];
    args.push(String(deleted.length));
    for (const name of deleted) args.push(DATA_PREFIX + name);
    for (const [name, value] of change.set) args.push(DATA_PREFIX + name, JSON.stringify(value));
    const reply = await this.run(COMMIT, key, args);
    return Number(reply) === 1;
  }

  async touch(key: string, ttl: number): Promise<boolean> {
    // PEXPIRE answers 0 for a missing key and never creates one.
    const reply = await this.client.pexpire(this.redisKey(key), Math.max(1, Math.ceil(ttl)));
    return reply === 1;
  }

  async destroy(key: string): Promise<void> {
    await this.client.del(this.redisKey(key));
  }

  /** The Redis key of a session's hash. */
  protected redisKey(key: string): string {
    return this.prefix + key;
  }

  /** EVALSHA, falling back to EVAL (which also caches the script) when Redis does not know it. */
  private async run(code: Script, key: string, args: string[]): Promise<unknown> {
    const redisKey = this.redisKey(key);
    try {
      return await this.client.evalsha(code.sha, 1, redisKey, ...args);
    } catch (error) {
      if (!isNoScriptError(error)) throw error;
      return await this.client.eval(code.source, 1, redisKey, ...args);
    }
  }
}
