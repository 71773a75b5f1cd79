import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { MemoryStore, SessionModule } from '@novanest/session';
import { AuthController } from './auth/auth.controller.js';
import { AuthService } from './auth/auth.service.js';
import { LocalStrategy } from './auth/local.strategy.js';
import { SessionSerializer } from './auth/session.serializer.js';
import { UsersService } from './users/users.service.js';

@Module({
  imports: [SessionModule.forRoot(new MemoryStore()), PassportModule.register({ session: true })],
  controllers: [AuthController],
  providers: [UsersService, AuthService, LocalStrategy, SessionSerializer],
})
export class AppModule {}
