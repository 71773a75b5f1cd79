import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SESSION_LOGGER_CONTEXT, SESSION_OPTIONS } from '../session.constants.js';
import { SessionStoreCheckError } from '../session.exceptions.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import { CookieStore } from '../stores/cookie/cookie.store.js';
import { MemoryStore } from '../stores/memory/memory.store.js';
import { SessionStore } from '../stores/session.store.js';
import { SessionStoreTimeoutError, withDeadline } from './store-deadline.js';

/**
 * Checks the configured store once, when the application boots, so that misconfiguration
 * (an unreachable Redis, a missing Postgres table) shows up as one sentence at start-up rather
 * than as a 503 on every request. Without `failFast` the sentence is logged at error level and
 * the application serves anyway (503s until the store is there); with it, `app.init()` rejects
 * with the sentence. Also warns, once per boot, about a `MemoryStore` in production. Internal.
 */
@Injectable()
export class SessionStoreCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(SESSION_LOGGER_CONTEXT);

  constructor(
    @Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions,
    private readonly store: SessionStore,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.enabled) return;
    if (this.store instanceof MemoryStore && process.env.NODE_ENV === 'production') {
      this.logger.warn(
        'SessionModule uses a MemoryStore under NODE_ENV=production: sessions live in this one process, ' +
          'are lost on restart and are not shared with other instances; pass a RedisStore or PostgresStore to SessionModule.forRoot()',
      );
    }
    if (this.store instanceof CookieStore && this.store.revocation?.store instanceof MemoryStore && process.env.NODE_ENV === 'production') {
      this.logger.warn(
        "CookieStore's revocation store is a MemoryStore under NODE_ENV=production: a restart forgets every " +
          '"log out everywhere" (the revoked cookies count again) and other instances never see one; pass a RedisStore or PostgresStore as revocation',
      );
    }
    const failure = await this.failure();
    if (failure === undefined) return;
    if (this.options.failFast) throw new SessionStoreCheckError(failure);
    this.logger.error(`${failure} (until then, requests that use the session answer 503)`);
  }

  /** The check's sentence when the store is not ready to serve, else `undefined`. */
  private async failure(): Promise<string | undefined> {
    const store = this.store;
    if (typeof store.check !== 'function') return undefined;
    const timeoutMs = this.options.storeTimeoutMs;
    try {
      await withDeadline(() => store.check!(timeoutMs), timeoutMs);
      return undefined;
    } catch (error) {
      const name = store.constructor.name;
      if (error instanceof SessionStoreTimeoutError) {
        return `${name}: the start-up check did not finish within ${timeoutMs} ms: make the store reachable, or raise storeTimeout if it is slow to answer`;
      }
      return error instanceof Error ? error.message : `${name}: the start-up check failed (${String(error)})`;
    }
  }
}
