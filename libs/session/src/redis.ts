/**
 * `@novanest/session/redis`: the Redis store (standalone or Cluster, optional near-cache).
 * Needs the `ioredis` peer dependency.
 */
export { RedisStore } from './stores/redis/redis.store.js';
export type { RedisLocalCacheOptions, RedisLocalCacheStatus, RedisStoreOptions } from './stores/redis/redis.store.js';
