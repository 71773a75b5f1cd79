import { Controller, Get, HttpCode, Post, Redirect, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { AuthData, Security, Session, SessionAuthGuard, SessionService, SessionUserIndexUnsupportedError } from '@novanest/session';
import { ErrorPageFilter } from './error-page.filter.js';
import { wantsJson } from './negotiation.js';
import { homePage, loginPage } from './pages.js';
import { type DemoRequest, UsernamePassword, sessionApiAuth, sessionAuth } from './security.js';
import { Web } from './web.js';

/** What a login records about the device, shown on the sessions page. */
function deviceOf(request: DemoRequest): { userAgent?: string; ip?: string } {
  const userAgent = request.headers['user-agent'];
  return { userAgent: typeof userAgent === 'string' ? userAgent : undefined, ip: request.ip };
}

/**
 * The Nova tutorial app as a small product: a login form, a home page, logout. Every POST is
 * checked by `SessionCsrfGuard` (an app-wide guard, see app.module.ts) before the security
 * function of its route runs.
 */
@Controller()
@UseGuards(SessionAuthGuard)
// The library's own filter is global too; on the controller, this one renders its denials (401 pages).
@UseFilters(ErrorPageFilter)
export class MainController {
  constructor(
    private readonly sessions: SessionService,
    private readonly web: Web,
  ) {}

  /** The login form, with a token of the (anonymous) session and the flash of a logout; 302 to `/` when logged in already. */
  @Get('login')
  @Security(false)
  async loginPage(@Req() request: DemoRequest, @Res() response: unknown, @Session() session: Session): Promise<void> {
    // Already logged in: the home page is where this visitor wants to be.
    if ((await session.get('username')) !== undefined) return this.web.found(response, '/');
    const notice = await session.getFlash<string>('notice');
    const csrfToken = await this.sessions.csrfToken(request);
    this.web.page(response, loginPage({ csrfToken, notice }));
  }

  /**
   * Logs in: a new id and an empty session (nothing of the anonymous session follows the
   * user in), bound to the user with the device's user agent and address so that /sessions
   * lists it.
   */
  @Post('login')
  @Security(UsernamePassword)
  @Redirect('/')
  async login(@AuthData('username') username: string, @Req() request: DemoRequest, @Session() session: Session): Promise<void> {
    await session.regenerate({ keep: [] });
    try {
      await session.bindUser(username, deviceOf(request));
    } catch (error) {
      // SESSION_STORE=cookie keeps no per-user index: the login works, /sessions lists only this device.
      if (!(error instanceof SessionUserIndexUnsupportedError)) throw error;
    }
    await session.set('username', username);
  }

  /** The home page: the user's name, a link to the sessions page, a logout button. JSON: `{ username }`. */
  @Get()
  @Security(sessionAuth)
  async index(@AuthData('username') username: string, @Req() request: DemoRequest, @Res() response: unknown): Promise<void> {
    if (wantsJson(request.headers)) return this.web.json(response, { username });
    const csrfToken = await this.sessions.csrfToken(request);
    this.web.page(response, homePage({ username, csrfToken }));
  }

  /** Logs out (the logout button): the session ends, and the login page says so once. JSON: 200 `{ loggedOut: true }`. */
  @Post('logout')
  @Security(sessionAuth)
  async logoutButton(@Req() request: DemoRequest, @Res() response: unknown, @Session() session: Session): Promise<void> {
    await this.logOut(session);
    if (wantsJson(request.headers)) return this.web.json(response, { loggedOut: true });
    this.web.seeOther(response, '/login');
  }

  /** The tutorial's logout link (Nova's): as the button, for a GET. */
  @Get('logout')
  @Security(sessionAuth)
  @Redirect('/login')
  async logout(@Session() session: Session): Promise<void> {
    await this.logOut(session);
  }

  /** A CSRF token of the current session (an anonymous one too) for JSON clients: `{ token }`. */
  @Get('csrf-token')
  @Security(false)
  async csrfToken(@Req() request: DemoRequest, @Res() response: unknown): Promise<void> {
    this.web.json(response, { token: await this.sessions.csrfToken(request) });
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

  /** Ends the session; the flash starts a new, empty one under a new id for the login page. */
  private async logOut(session: Session): Promise<void> {
    await session.destroy();
    await session.flash('notice', 'Logged out');
  }
}
