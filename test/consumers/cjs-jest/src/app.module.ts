import { Module } from '@nestjs/common';
import { MemoryStore, SessionModule } from '@novanest/session';
import { AppController } from './app.controller';
import { AppService } from './app.service';
import { AuthController } from './auth.controller';

@Module({
  imports: [SessionModule.forRoot(new MemoryStore())],
  controllers: [AppController, AuthController],
  providers: [AppService],
})
export class AppModule {}
