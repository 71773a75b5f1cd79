import { Module } from '@nestjs/common';
import { MemoryStore, SessionModule, type SessionStore } from '@novanest/session';
import { CounterController } from './counter.controller.js';
import { MainController } from './main.controller.js';
import './session-data.js';

/**
 * The store the demo keeps sessions in.
 *
 * SESSION_STORE: a later change picks the store here from the SESSION_STORE environment
 * variable (`memory` | `redis` | `postgres`). Until then the demo always uses the memory store.
 */
function createSessionStore(): SessionStore {
  return new MemoryStore();
}

@Module({
  imports: [SessionModule.forRoot(createSessionStore(), { cookie: { secure: 'auto' } })],
  controllers: [MainController, CounterController],
})
export class AppModule {}
