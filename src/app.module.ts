import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { SessionCsrfGuard, SessionModule, type SessionStore } from '@novanest/session';
import { CounterController } from './counter.controller.js';
import { cookieFromEnv } from './demo-config.js';
import { ErrorPageFilter } from './error-page.filter.js';
import { MainController } from './main.controller.js';
import { UsernamePassword } from './security.js';
import { DEMO_SESSION_STORE, DemoStoreModule } from './session-store.js';
import { SessionsController } from './sessions.controller.js';
import { Web } from './web.js';
import './session-data.js';

@Module({
  imports: [
    // The store comes from SESSION_STORE (memory by default; see session-store.ts), the cookie
    // from NODE_ENV (see demo-config.ts).
    SessionModule.forRootAsync({
      imports: [DemoStoreModule],
      inject: [DEMO_SESSION_STORE],
      useFactory: (store: SessionStore) => ({ store, cookie: cookieFromEnv(process.env) }),
    }),
  ],
  controllers: [MainController, SessionsController, CounterController],
  providers: [
    // Every POST of the app (login and the counter included) needs a token of its session and
    // must come from this origin; this guard runs before the controllers' SessionAuthGuard.
    { provide: APP_GUARD, useClass: SessionCsrfGuard },
    // Pages for browsers, JSON for JSON clients, for every HTTP error (unknown paths included).
    { provide: APP_FILTER, useClass: ErrorPageFilter },
    UsernamePassword,
    Web,
  ],
})
export class AppModule {}
