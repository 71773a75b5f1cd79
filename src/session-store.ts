import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CookieStore, MemoryStore, type SessionStore } from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { PostgresStore } from '@novanest/session/postgres';

/** Injection token of the store the demo keeps sessions in. */
export const DEMO_SESSION_STORE = Symbol('demo-session-store');

/**
 * Closes the connections the demo opened for its store. The session library never closes a
 * client it was given, so the application that created one ends it.
 */
@Injectable()
export class StoreConnections implements OnApplicationShutdown {
  private readonly closers: Array<() => Promise<unknown>> = [];

  add(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.closers.splice(0).map((close) => close()));
  }
}

const USAGE = 'SESSION_STORE must be memory, cookie, redis://host:port or postgres://user@host/db';

/** SESSION_NEAR_CACHE: `1` turns on RedisStore's per-process near-cache; `0` or unset leaves it off. */
function nearCacheFromEnv(env: NodeJS.ProcessEnv): boolean {
  const value = env.SESSION_NEAR_CACHE;
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  throw new Error(`SESSION_NEAR_CACHE must be 1 or 0, got ${JSON.stringify(value)}`);
}

/**
 * SESSION_MEMORY_MAX_ENTRIES: the MemoryStore's cap on sessions held (a positive integer);
 * unset keeps the store's default.
 */
function memoryStoreFromEnv(env: NodeJS.ProcessEnv): MemoryStore {
  const value = env.SESSION_MEMORY_MAX_ENTRIES;
  if (value === undefined || value === '') return new MemoryStore();
  const maxEntries = /^[1-9][0-9]*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(maxEntries)) {
    throw new Error(`SESSION_MEMORY_MAX_ENTRIES must be a positive integer (sessions held in memory), got ${JSON.stringify(value)}`);
  }
  return new MemoryStore({ maxEntries });
}

/**
 * Waits for a new Redis client to connect, so the first requests do not meet an offline
 * client; gives up after `ms` and starts anyway (requests then get 503 until Redis is up).
 */
async function readyOrTimeout(client: { status: string; once(event: 'ready', listener: () => void): unknown }, ms: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The store named by SESSION_STORE: `memory` (the default; SESSION_MEMORY_MAX_ENTRIES caps it), `cookie` (with SESSION_SECRET, at
 * least 32 bytes; several secrets comma-separated, newest first), a `redis://` URL (with
 * SESSION_NEAR_CACHE=1 for the near-cache) or a `postgres://` URL. Drivers are loaded only
 * when asked for.
 */
export async function createSessionStore(spec: string, env: NodeJS.ProcessEnv, connections: StoreConnections): Promise<SessionStore> {
  if (spec === 'memory') return memoryStoreFromEnv(env);
  if (spec === 'cookie') {
    const secret = env.SESSION_SECRET;
    if (secret === undefined || secret === '') {
      throw new Error('SESSION_STORE=cookie needs SESSION_SECRET (at least 32 bytes; several comma-separated, newest first)');
    }
    return new CookieStore({ secret: secret.split(',') });
  }
  if (/^rediss?:\/\//.test(spec)) {
    const localCache = nearCacheFromEnv(env);
    const { Redis } = await import('ioredis');
    // Fail fast while the server is away: the library answers 503 and recovers when it is back.
    // commandTimeout (below the library's 3 s storeTimeout) gives up on a Redis that stalls.
    const client = new Redis(spec, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2000 });
    connections.add(() => client.quit());
    await readyOrTimeout(client, 2000);
    // The store closes the subscriber connection it opens for the near-cache itself.
    return new RedisStore({ client, localCache });
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { default: pg } = await import('pg');
    // Both below the library's 3 s storeTimeout, so a stalled database frees the pool's slots.
    const pool = new pg.Pool({ connectionString: spec, connectionTimeoutMillis: 2000, query_timeout: 2000 });
    connections.add(() => pool.end());
    return new PostgresStore({ pool, createTable: true });
  }
  throw new Error(`${USAGE}, got ${JSON.stringify(spec)}`);
}

/** Provides the demo's store, chosen by SESSION_STORE. */
@Module({
  providers: [
    StoreConnections,
    {
      provide: DEMO_SESSION_STORE,
      inject: [StoreConnections],
      useFactory: (connections: StoreConnections) => createSessionStore(process.env.SESSION_STORE ?? 'memory', process.env, connections),
    },
  ],
  exports: [DEMO_SESSION_STORE],
})
export class DemoStoreModule {}
