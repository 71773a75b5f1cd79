import { Module } from '@nestjs/common';
import { MemoryStore, SessionModule } from '@novanest/session';
import { AppController } from './app.controller.js';
import { AppService } from './app.service.js';
import { AuthController } from './auth.controller.js';

@Module({
  imports: [SessionModule.forRoot(new MemoryStore())],
  controllers: [AppController, AuthController],
  providers: [AppService],
})
export class AppModule {}
