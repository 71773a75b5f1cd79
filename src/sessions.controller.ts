import { Controller, Get, NotFoundException, Param, Post, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { AuthData, Security, Session, SessionAuthGuard, SessionService, type UserSessionInfo } from '@novanest/session';
import { describeDevice } from './devices.js';
import { ErrorPageFilter } from './error-page.filter.js';
import { wantsJson } from './negotiation.js';
import { type SessionRow, sessionsPage } from './pages.js';
import { type DemoRequest, sessionAuth } from './security.js';
import { Web } from './web.js';

/** One session as `GET /sessions` answers JSON clients. */
export interface SessionJson {
  handle: string;
  /** ISO 8601, UTC. */
  createdAt: string;
  /** ISO 8601, UTC; may lag the last request by up to a minute (see the library's `lastSeenAt`). */
  lastSeenAt: string;
  userAgent: string | null;
  current: boolean;
}

/** A handle as `listUserSessions` makes them: 22 base64url characters. */
const HANDLE_SHAPE = /^[A-Za-z0-9_-]{22}$/;

const UNLISTED = 'This store keeps no list of your sessions (SESSION_STORE=cookie), so only this device is shown.';

const NO_SUCH_SESSION = 'No session of yours has this handle (it may have ended already)';

function toJson(info: UserSessionInfo): SessionJson {
  return {
    handle: info.handle,
    createdAt: new Date(info.createdAt).toISOString(),
    lastSeenAt: new Date(info.lastSeenAt).toISOString(),
    userAgent: info.userAgent ?? null,
    current: info.current,
  };
}

function toRow(info: UserSessionInfo): SessionRow {
  return {
    handle: info.handle,
    device: describeDevice(info.userAgent),
    userAgent: info.userAgent,
    createdAt: new Date(info.createdAt),
    lastSeenAt: new Date(info.lastSeenAt),
    current: info.current,
  };
}

/**
 * Where the user is logged in: every session bound to them (at login), with a button to end
 * any other one and one to end all the others. The POSTs are checked by `SessionCsrfGuard`.
 */
@Controller('sessions')
@UseGuards(SessionAuthGuard)
// The library's own filter is global too; on the controller, this one renders its denials (401 pages).
@UseFilters(ErrorPageFilter)
@Security(sessionAuth)
export class SessionsController {
  constructor(
    private readonly sessions: SessionService,
    private readonly web: Web,
  ) {}

  /** The page (HTML), or `[{ handle, createdAt, lastSeenAt, userAgent, current }]`, oldest first (JSON). */
  @Get()
  async list(
    @AuthData('username') username: string,
    @Req() request: DemoRequest,
    @Res() response: unknown,
    @Session() session: Session,
  ): Promise<void> {
    const sessions = await this.mine(session, request);
    if (wantsJson(request.headers)) return this.web.json(response, sessions.map(toJson));
    const notice = await session.getFlash<string>('notice');
    const csrfToken = await this.sessions.csrfToken(request);
    const error = session.userId === undefined ? UNLISTED : undefined;
    this.web.page(response, sessionsPage({ username, csrfToken }, sessions.map(toRow), { notice, error }));
  }

  /** Ends one of the user's sessions. HTML: 303 to /sessions with a notice. JSON: `{ revoked: true }`, or 404 when no session of the user has this handle. */
  @Post(':handle/revoke')
  async revoke(
    @Param('handle') handle: string,
    @Req() request: DemoRequest,
    @Res() response: unknown,
    @Session() session: Session,
  ): Promise<void> {
    await session.load();
    const userId = session.userId;
    const revoked = userId !== undefined && HANDLE_SHAPE.test(handle) && (await this.sessions.revokeUserSession(userId, handle));
    if (wantsJson(request.headers)) {
      if (!revoked) throw new NotFoundException(NO_SUCH_SESSION);
      return this.web.json(response, { revoked: true });
    }
    await session.flash('notice', revoked ? 'That device is logged out.' : 'That session had already ended.');
    this.web.seeOther(response, '/sessions');
  }

  /** Ends every session of the user but this one. HTML: 303 to /sessions with a notice. JSON: `{ revoked: <count> }`. */
  @Post('revoke-others')
  async revokeOthers(@Req() request: DemoRequest, @Res() response: unknown, @Session() session: Session): Promise<void> {
    await session.load();
    const userId = session.userId;
    const revoked = userId === undefined ? 0 : await this.sessions.revokeUserSessions(userId, { except: request });
    if (wantsJson(request.headers)) return this.web.json(response, { revoked });
    await session.flash('notice', revoked === 1 ? 'Logged out 1 other session.' : `Logged out ${revoked} other sessions.`);
    this.web.seeOther(response, '/sessions');
  }

  /**
   * The user's sessions, this one marked. A store without a per-user index
   * (SESSION_STORE=cookie) cannot list them: then only this one is known.
   */
  private async mine(session: Session, request: DemoRequest): Promise<UserSessionInfo[]> {
    await session.load();
    if (session.userId !== undefined) return this.sessions.listUserSessions(session.userId, request);
    const now = Date.now();
    const userAgent = request.headers['user-agent'];
    return [
      { handle: 'this-device', createdAt: now, lastSeenAt: now, current: true, ...(typeof userAgent === 'string' ? { userAgent } : {}) },
    ];
  }
}
