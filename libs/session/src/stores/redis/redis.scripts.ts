import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** Hash field holding the creation time (ms since the epoch). Data fields all start with `d:`. */
export const CREATED_FIELD = 'm:created';
export const DATA_PREFIX = 'd:';
/**
 * The one field of a destroy mark (see `SessionStore.destroy`): the session's hash, emptied,
 * kept under the same key with this field and the mark's TTL. Same key, so same Cluster slot:
 * every script checks the mark without a second key. A marked hash is no session to any
 * script: loads, updates, touches and compare-and-sets see nothing there.
 */
export const GONE_FIELD = 'm:gone';

/** Lua: whether KEYS[1] holds a live session (exists, and is no destroy mark). */
const IS_LIVE = `local function isLive(key)
  return redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, '${GONE_FIELD}') == 0
end
`;

/** Arguments pushed to `HSET`/`HDEL` per call inside the scripts (Lua's `unpack` has a stack limit). */
const LUA_CHUNK = 1000;

/**
 * Reads a session in one round trip: the remaining TTL, then the hash as a flat field/value
 * array (parsed by us, never by a client-side object builder, so a field named `__proto__`
 * stays data). Nothing when the key is gone, 0 when it holds a destroy mark.
 */
const LOAD_LUA = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
if redis.call('HEXISTS', KEYS[1], '${GONE_FIELD}') == 1 then return 0 end
return {ttl, redis.call('HGETALL', KEYS[1])}
`;

/**
 * Applies one request's changes atomically. ARGV: mode ('c' | 'u' | 'a'), ttl ms, createdAt
 * ms, clear ('1' | '0'), number of fields to delete, those fields, then field/value pairs to
 * set. An update of a missing (or marked) hash writes nothing and answers 0: a destroy that
 * ran first wins. 'a' (adopt, the first write of an issued id): a marked hash answers 0; a
 * missing one is created with the creation time; a live one gets the fields set, as an update.
 */
const COMMIT_LUA = `
${IS_LIVE}
local key = KEYS[1]
local ttl = tonumber(ARGV[2])
if ARGV[1] == 'a' then
  if redis.call('HEXISTS', key, '${GONE_FIELD}') == 1 then return 0 end
  if redis.call('EXISTS', key) == 0 then redis.call('HSET', key, '${CREATED_FIELD}', ARGV[3]) end
elseif ARGV[1] == 'u' then
  if not isLive(key) then return 0 end
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

/** PEXPIRE of a live session (never creates a key, never extends a mark). ARGV: ttl ms. */
const TOUCH_LUA = `
${IS_LIVE}
if not isLive(KEYS[1]) then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[1])
`;

/** The touch and the invalidation. ARGV: channel, message, ttl ms. */
const TOUCH_PUBLISH_LUA = `
${IS_LIVE}
local result = 0
if isLive(KEYS[1]) then result = redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return result
`;

/**
 * DEL; with a mark TTL above 0, leaves a destroy mark for that long (the key holding only
 * the mark field). Answers 1 when a live session was removed, 0 otherwise (a mark is none).
 * ARGV: mark ttl ms ('0': no mark).
 */
const DESTROY_LUA = `
${IS_LIVE}
local live = isLive(KEYS[1])
redis.call('DEL', KEYS[1])
local mark = tonumber(ARGV[1])
if mark > 0 then
  redis.call('HSET', KEYS[1], '${GONE_FIELD}', '1')
  redis.call('PEXPIRE', KEYS[1], mark)
end
if live then return 1 end
return 0
`;

/** The destroy and the invalidation. ARGV: channel, message, mark ttl ms. */
const DESTROY_PUBLISH_LUA = `
local args = {}
for i = 3, #ARGV do args[i - 2] = ARGV[i] end
local function destroy()
${DESTROY_LUA.replaceAll('ARGV', 'args')}
end
local removed = destroy()
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
${IS_LIVE}
local key = KEYS[1]
if not isLive(key) then return {0} end
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
export const TOUCH = script('Touch', TOUCH_LUA);
export const TOUCH_PUBLISH = script('TouchPublish', TOUCH_PUBLISH_LUA);
export const DESTROY = script('Destroy', DESTROY_LUA);
export const DESTROY_PUBLISH = script('DestroyPublish', DESTROY_PUBLISH_LUA);

const SCRIPTS: readonly SessionScript[] = [LOAD, COMMIT, COMMIT_PUBLISH, TOUCH, TOUCH_PUBLISH, DESTROY, DESTROY_PUBLISH];

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
