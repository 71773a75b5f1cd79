import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** Hash field holding the creation time (ms since the epoch). Data fields all start with `d:`. */
export const CREATED_FIELD = 'm:created';
export const DATA_PREFIX = 'd:';

/** Arguments pushed to `HSET`/`HDEL` per call inside the scripts (Lua's `unpack` has a stack limit). */
const LUA_CHUNK = 1000;

/**
 * Reads a session in one round trip: the remaining TTL, then the hash as a flat field/value
 * array (parsed by us, never by a client-side object builder, so a field named `__proto__`
 * stays data). Nothing when the key is gone.
 */
const LOAD_LUA = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
return {ttl, redis.call('HGETALL', KEYS[1])}
`;

/**
 * Applies one request's changes atomically. ARGV: mode ('c' | 'u'), ttl ms, createdAt ms,
 * clear ('1' | '0'), number of fields to delete, those fields, then field/value pairs to set.
 * An update of a missing hash writes nothing and answers 0: a destroy that ran first wins.
 */
const COMMIT_LUA = `
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

/**
 * Near-cache variants: the same change plus a PUBLISH of the invalidation, in one script, so the
 * message is on its way before the reply is. ARGV[1] is the channel, ARGV[2] the message; the
 * commit's own arguments follow (copied into a table, so the commit body is unchanged).
 */
const COMMIT_PUBLISH_LUA = `
local args = {}
for i = 3, #ARGV do args[i - 2] = ARGV[i] end
local function commit()
${COMMIT_LUA.replaceAll('ARGV', 'args')}
end
local result = commit()
redis.call('PUBLISH', ARGV[1], ARGV[2])
return result
`;

/** PEXPIRE (never creates a key) and the invalidation. ARGV: channel, message, ttl ms. */
const TOUCH_PUBLISH_LUA = `
local result = redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return result
`;

/** DEL and the invalidation. ARGV: channel, message. */
const DESTROY_PUBLISH_LUA = `
local removed = redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return removed
`;

/**
 * The atomic per-key update (`session.update`): sets one data field only if it still holds
 * the expected JSON text, and moves the expiry as a commit does. Never creates a hash.
 * ARGV: field, expected present ('1' | '0'), expected JSON text, next JSON text, ttl ms.
 * Answers {1} applied, {2, current} or {2} (field absent) when the field held something
 * else, {0} when the session is gone.
 */
const COMPARE_AND_SET_LUA = `
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {0} end
local current = redis.call('HGET', key, ARGV[1])
if ARGV[2] == '1' then
  if current ~= ARGV[3] then
    if current then return {2, current} end
    return {2}
  end
elseif current then
  return {2, current}
end
redis.call('HSET', key, ARGV[1], ARGV[4])
local ttl = tonumber(ARGV[5])
if ttl <= 0 then
  redis.call('DEL', key)
else
  redis.call('PEXPIRE', key, ttl)
end
return {1}
`;

/**
 * Near-cache variant: the same, plus the invalidation (ARGV[1] channel, ARGV[2] message),
 * published only when the field was set: a refused attempt changed nothing to invalidate.
 */
const COMPARE_AND_SET_PUBLISH_LUA = `
local args = {}
for i = 3, #ARGV do args[i - 2] = ARGV[i] end
local function compareAndSet()
${COMPARE_AND_SET_LUA.replaceAll('ARGV', 'args')}
end
local result = compareAndSet()
if result[1] == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return result
`;

/**
 * The name under which a script is added to the client with `defineCommand`. The client is
 * the user's and may be shared (with other code, or with another copy of this library), so
 * the name is namespaced and carries a digest of the source: one name always means one script,
 * and registering again is a no-op rather than a silent swap.
 */
type ScriptCommandName = `novanestSession${string}`;

/** A Lua script of the store, as ioredis `defineCommand` takes it. Every script names one key. */
export interface SessionScript {
  readonly command: ScriptCommandName;
  readonly numberOfKeys: 1;
  readonly lua: string;
}

export function script(label: string, lua: string): SessionScript {
  const digest = createHash('sha1').update(lua).digest('hex').slice(0, 12);
  return { command: `novanestSession${label}_${digest}`, numberOfKeys: 1, lua };
}

export const LOAD = script('Load', LOAD_LUA);
export const COMMIT = script('Commit', COMMIT_LUA);
export const COMMIT_PUBLISH = script('CommitPublish', COMMIT_PUBLISH_LUA);
export const TOUCH_PUBLISH = script('TouchPublish', TOUCH_PUBLISH_LUA);
export const DESTROY_PUBLISH = script('DestroyPublish', DESTROY_PUBLISH_LUA);

const SCRIPTS: readonly SessionScript[] = [LOAD, COMMIT, COMMIT_PUBLISH, TOUCH_PUBLISH, DESTROY_PUBLISH];

// The atomic per-key update (`session.update`), registered with the others.
export const COMPARE_AND_SET = script('CompareAndSet', COMPARE_AND_SET_LUA);
export const COMPARE_AND_SET_PUBLISH = script('CompareAndSetPublish', COMPARE_AND_SET_PUBLISH_LUA);
const UPDATE_SCRIPTS: readonly SessionScript[] = [COMPARE_AND_SET, COMPARE_AND_SET_PUBLISH];

/** The methods `defineCommand` adds: `(key, ...args)`, one round trip each. */
interface SessionScriptCommands {
  [command: ScriptCommandName]: ((key: string, ...args: string[]) => Promise<unknown>) | undefined;
}

/** A client with the store's scripts registered on it (see `registerSessionScripts`). */
export type ScriptedClient = (Redis | Cluster) & SessionScriptCommands;

/**
 * Adds the store's scripts to the client as commands, once per client. ioredis then sends the
 * full source the first time on each connection and EVALSHA after it, and answers a NOSCRIPT
 * (Redis restarted, failed over, or SCRIPT FLUSH) by sending the source again: one round trip
 * per call as before, and no hand-written EVALSHA/EVAL fallback here. Works on `Redis` and
 * `Cluster` alike, and respects the client's `keyPrefix` as its other commands do.
 */
export function registerSessionScripts(client: Redis | Cluster): ScriptedClient {
  const scripted = client as ScriptedClient;
  for (const { command, numberOfKeys, lua } of [...SCRIPTS, ...UPDATE_SCRIPTS]) {
    if (typeof scripted[command] !== 'function') client.defineCommand(command, { numberOfKeys, lua });
  }
  return scripted;
}

/** Runs one of the store's scripts on a client that `registerSessionScripts` has prepared. */
export function runSessionScript(client: ScriptedClient, code: SessionScript, redisKey: string, args: readonly string[]): Promise<unknown> {
  const command = client[code.command];
  if (command === undefined) throw new Error(`RedisStore script ${code.command} is not registered on this client`);
  return command.call(client, redisKey, ...args);
}
