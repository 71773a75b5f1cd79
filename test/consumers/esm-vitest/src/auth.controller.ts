import { Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import {
  AuthData,
  Security,
  Session,
  SessionAuthGuard,
} from '@novanest/session';
import { sessionAuth, usernamePassword } from './auth.security.js';

@Controller('auth')
@UseGuards(SessionAuthGuard)
export class AuthController {
  @Post('login')
  @Security(usernamePassword)
  @HttpCode(200)
  async login(
    @AuthData('username') username: string,
    @Session() session: Session,
  ): Promise<{ username: string }> {
    await session.regenerate(); // new id at login: no session fixation
    await session.set('username', username);
    return { username };
  }

  @Get('me')
  @Security(sessionAuth)
  me(@AuthData('username') username: string): { username: string } {
    return { username };
  }

  @Post('logout')
  @Security(sessionAuth)
  @HttpCode(200)
  async logout(@Session() session: Session): Promise<{ loggedOut: true }> {
    await session.destroy();
    return { loggedOut: true };
  }
}
