import { BadRequestException, Body, Controller, Get, Header, HttpCode, Post } from '@nestjs/common';
import { Session } from '@novanest/session';
import { page } from './page.js';
import './session-data.js';

@Controller()
export class AuthController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(): string {
    return page;
  }

  /** Any name will do: this example is about the socket, not about passwords. */
  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session, @Body() body: { username?: unknown }) {
    const username = typeof body?.username === 'string' ? body.username.trim() : '';
    if (username === '' || username.length > 32) throw new BadRequestException('username must be 1 to 32 characters');
    await session.regenerate(); // a new id at login: no session fixation
    await session.set('username', username);
    return { username };
  }

  @Get('me')
  async me(@Session() session: Session) {
    return { username: (await session.get('username')) ?? null, sent: (await session.get('sent')) ?? 0 };
  }

  /** Ends the session: every socket opened with its cookie is refused at its next message. */
  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: Session) {
    await session.destroy();
    return { ok: true };
  }
}
