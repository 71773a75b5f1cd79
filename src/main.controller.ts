import { Controller, Get, Header, HttpCode, Post, Redirect, UseGuards } from '@nestjs/common';
import { AuthData, Security, Session, SessionAuthGuard } from '@novanest/session';
import { loginPage } from './login-page.js';
import { sessionApiAuth, sessionAuth, usernamePassword } from './security.js';

/** The Nova tutorial app: a login form, a greeting for logged-in users, logout. */
@Controller()
@UseGuards(SessionAuthGuard)
export class MainController {
  @Get('login')
  @Security(false)
  @Header('Content-Type', 'text/html; charset=utf-8')
  loginPage(): string {
    return loginPage();
  }

  @Post('login')
  @Security(usernamePassword)
  @Redirect('/')
  async login(@AuthData('username') username: string, @Session() session: Session): Promise<void> {
    // A new id at login: an id known before (planted by an attacker) is worthless after.
    await session.regenerate();
    await session.set('username', username);
  }

  @Get()
  @Security(sessionAuth)
  @Header('Content-Type', 'text/plain; charset=utf-8')
  index(@AuthData('username') username: string): string {
    return `Hello ${username}`;
  }

  @Get('logout')
  @Security(sessionAuth)
  @Redirect('/login')
  async logout(@Session() session: Session): Promise<void> {
    await session.destroy();
  }

  @Get('heartbeat')
  @Security(false)
  @HttpCode(200)
  heartbeat(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('profile')
  @Security(sessionApiAuth)
  profile(@AuthData('username') username: string): { username: string } {
    return { username };
  }
}
