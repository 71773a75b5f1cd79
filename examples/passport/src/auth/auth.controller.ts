import { Controller, Get, Post, Req, UseGuards } from '@nestjs/common';
import { AuthenticatedGuard } from './authenticated.guard.js';
import type { PublicUser } from './auth.service.js';
import { LocalAuthGuard } from './local-auth.guard.js';

/** What both platforms' requests offer once Passport is set up. */
interface PassportRequest {
  user?: PublicUser | null;
  /** Express: `logout(callback)`; Fastify: `logOut()` returns a promise. */
  logOut(callback?: (error?: unknown) => void): Promise<void> | void;
}

@Controller('auth')
export class AuthController {
  /** 201 with the user (no password) and a session cookie; 401 for a wrong password. */
  @UseGuards(LocalAuthGuard)
  @Post('login')
  login(@Req() req: PassportRequest): PublicUser | null | undefined {
    return req.user;
  }

  /** 200 with the user when logged in, 403 when not. */
  @UseGuards(AuthenticatedGuard)
  @Get('profile')
  profile(@Req() req: PassportRequest): PublicUser | null | undefined {
    return req.user;
  }

  /** 201; the session ends, so its cookie no longer logs anyone in. */
  @Post('logout')
  async logout(@Req() req: PassportRequest): Promise<{ ok: true }> {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: unknown): void => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve());
      // Express's Passport calls back; @fastify/passport returns a promise (and ignores the callback).
      const result = req.logOut(done);
      if (result instanceof Promise) result.then(() => resolve(), reject);
    });
    return { ok: true };
  }
}
