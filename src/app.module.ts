import { Module } from '@nestjs/common';
import { SessionModule, type SessionStore } from '@novanest/session';
import { CounterController } from './counter.controller.js';
import { MainController } from './main.controller.js';
import { DEMO_SESSION_STORE, DemoStoreModule } from './session-store.js';
import './session-data.js';

@Module({
  imports: [
    // The store comes from SESSION_STORE (memory by default; see session-store.ts).
    SessionModule.forRootAsync({
      imports: [DemoStoreModule],
      inject: [DEMO_SESSION_STORE],
      useFactory: (store: SessionStore) => ({ store, cookie: { secure: 'auto' } }),
    }),
  ],
  controllers: [MainController, CounterController],
})
export class AppModule {}
