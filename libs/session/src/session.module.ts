import {
  type DynamicModule,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { platformResponsePrototype, releaseResponsePrototype, retainResponsePrototype } from './request/response-gate.js';
import { SecurityDeniedFilter } from './security/security-denied.filter.js';
import { SESSION_OPTIONS } from './session.constants.js';
import { SessionInterceptor } from './request/session.interceptor.js';
import { SessionManager } from './request/session.manager.js';
import { SessionMiddleware } from './request/session.middleware.js';
import { SessionStoreCheck } from './persistence/session-store.check.js';
import {
  ConfigurableSessionModule,
  SESSION_ASYNC_OPTIONS_TYPE,
  SESSION_MODULE_OPTIONS,
  SESSION_OPTIONS_TYPE,
  type SessionModuleExtras,
} from './session.module-definition.js';
import type { SessionModuleOptions } from './session-options.interface.js';
import { resolveSessionOptions } from './session-options.js';
import { SessionService } from './session.service.js';
import { MemoryStore } from './stores/memory/memory.store.js';
import { SessionStore } from './stores/session.store.js';
import { WsSessionService } from './websocket/ws-session.service.js';

function isStore(value: unknown): value is SessionStore {
  if (value instanceof SessionStore) return true;
  const candidate = value as Partial<Record<keyof SessionStore, unknown>> | undefined;
  return (
    typeof candidate?.get === 'function' &&
    typeof candidate.write === 'function' &&
    typeof candidate.touch === 'function' &&
    typeof candidate.destroy === 'function'
  );
}

/**
 * Server-side sessions. `SessionModule.forRoot(store, options)` in the application module
 * gives every request its session from the first middleware on (`SessionMiddleware`), registers
 * the cookie-issuing `SessionInterceptor` globally and provides `SessionService` and the store
 * (injectable as `SessionStore`). With no store, sessions live in a `MemoryStore`.
 */
@Module({
  providers: [
    {
      provide: SESSION_OPTIONS,
      useFactory: (options: SessionModuleOptions) => resolveSessionOptions(options),
      inject: [SESSION_MODULE_OPTIONS],
    },
    {
      provide: SessionStore,
      useFactory: (options: SessionModuleOptions): SessionStore => {
        if (options.store === undefined) return new MemoryStore();
        if (!isStore(options.store)) {
          throw new Error('SessionModule store must be a SessionStore (get, write, touch and destroy methods)');
        }
        return options.store;
      },
      inject: [SESSION_MODULE_OPTIONS],
    },
    SessionManager,
    SessionMiddleware,
    SessionService,
    WsSessionService,
    // Checks the store once at boot (storeTimeout, failFast).
    SessionStoreCheck,
    SessionInterceptor,
    { provide: APP_INTERCEPTOR, useExisting: SessionInterceptor },
    // Renders SessionAuthGuard's denials (status, headers, body; 401 as JSON or text).
    { provide: APP_FILTER, useClass: SecurityDeniedFilter },
  ],
  exports: [SessionService, SessionStore, SessionManager, WsSessionService],
})
export class SessionModule extends ConfigurableSessionModule implements NestModule, OnApplicationBootstrap, OnApplicationShutdown {
  /** The platform's response prototype (Express's) that this application uses while it runs. */
  private responsePrototype: object | undefined;

  constructor(private readonly adapterHost: HttpAdapterHost) {
    super();
  }

  /**
   * Every path gets the session middleware. The module is global by default, and Nest runs a
   * global module's middleware before any other module's, so the application's own middleware
   * and guards find the session attached.
   */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SessionMiddleware).forRoutes('*');
  }

  onApplicationBootstrap(): void {
    this.responsePrototype = platformResponsePrototype(this.adapterHost.httpAdapter?.getInstance());
    if (this.responsePrototype !== undefined) retainResponsePrototype(this.responsePrototype);
  }

  /** The response gate's writers leave the prototype once no application uses it any more. */
  onApplicationShutdown(): void {
    if (this.responsePrototype !== undefined) releaseResponsePrototype(this.responsePrototype);
    this.responsePrototype = undefined;
  }

  /**
   * `forRoot(store?, options?)`: the store first, as in `SessionModule.forRoot(new MemoryStore())`.
   * `forRoot(options)` with `options.store` works too.
   */
  static override forRoot(
    storeOrOptions?: SessionStore | typeof SESSION_OPTIONS_TYPE,
    options: SessionModuleOptions & SessionModuleExtras = {},
  ): DynamicModule {
    if (storeOrOptions === undefined) return super.forRoot(options);
    if (isStore(storeOrOptions)) return super.forRoot({ ...options, store: storeOrOptions });
    return super.forRoot(storeOrOptions);
  }

  /** Options from a factory with injected dependencies, e.g. a `ConfigService` or a Redis client. */
  static override forRootAsync(options: typeof SESSION_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }
}
