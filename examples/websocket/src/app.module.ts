import { Module } from '@nestjs/common';
import { MemoryStore, SessionModule } from '@novanest/session';
import { AuthController } from './auth.controller.js';
import { ChatGateway } from './chat.gateway.js';

@Module({
  imports: [SessionModule.forRoot(new MemoryStore(), { cookie: { secure: 'auto' } })],
  controllers: [AuthController],
  providers: [ChatGateway],
})
export class AppModule {}
