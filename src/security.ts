import type { IncomingHttpHeaders } from 'node:http';
import { Injectable } from '@nestjs/common';
import {
  type SecurityCheck,
  type SecurityContext,
  type SecurityDeniedException,
  type SecurityFn,
  type SecurityResult,
  SessionService,
  deny,
  redirectTo,
} from '@novanest/session';
import { DEMO_PASSWORD, readCredentials } from './credentials.js';
import { wantsJson } from './negotiation.js';
import { loginPage } from './pages.js';
import { PAGE_HEADERS } from './web.js';

/** What the demo reads of a request, on Express and Fastify alike. */
export interface DemoRequest {
  headers: IncomingHttpHeaders;
  body?: unknown;
  /** The client's address as the platform sees it (trust proxy applied). */
  ip?: string;
}

export const INVALID_CREDENTIALS = 'Invalid username or password';

const STATUS_NAMES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized' };

/**
 * The tutorial's username/password check, on the body only: any username with the password
 * `password`. A bad body is a 400 and wrong credentials a 401; browsers get the form again
 * (with the message, the username kept and a token of the same session), JSON clients a JSON
 * error. It runs after `SessionCsrfGuard`, so a forged login never gets this far.
 */
@Injectable()
export class UsernamePassword implements SecurityCheck<DemoRequest> {
  constructor(private readonly sessions: SessionService) {}

  async check({ request }: SecurityContext<DemoRequest>): Promise<SecurityResult> {
    const result = readCredentials(request.body);
    if (!result.ok) return this.refuse(request, 400, result.message, result.username);
    const { username, password } = result.credentials;
    if (password !== DEMO_PASSWORD) return this.refuse(request, 401, INVALID_CREDENTIALS, username);
    return { username };
  }

  private async refuse(request: DemoRequest, status: 400 | 401, message: string, username?: string): Promise<SecurityDeniedException> {
    if (wantsJson(request.headers)) {
      const body = status === 401 ? { statusCode: status, message } : { statusCode: status, message, error: STATUS_NAMES[status] };
      return deny({ status, body });
    }
    // The CSRF check passed, so the session has its secret already: this only masks it again.
    const csrfToken = await this.sessions.csrfToken(request);
    return deny({
      status,
      headers: { ...PAGE_HEADERS, 'Content-Type': 'text/html; charset=utf-8' },
      body: loginPage({ csrfToken, error: message, username }),
    });
  }
}

/** Pages: a logged-in session passes with its username; a browser goes to the login page, a JSON client gets a 401. */
export const sessionAuth: SecurityFn = async ({ session, request }) => {
  const username = await session.get('username');
  if (username !== undefined) return { username };
  return wantsJson((request as DemoRequest).headers) ? false : redirectTo('/login');
};

/** JSON API: a logged-in session passes with its username; anyone else gets a 401. */
export const sessionApiAuth: SecurityFn = async ({ session }) => {
  const username = await session.get('username');
  return username === undefined ? false : { username };
};
