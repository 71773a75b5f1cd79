import { BadRequestException } from '@nestjs/common';
import { type SecurityFn, type SecurityParams, deny, redirectTo } from '@novanest/session';
import { loginPage } from './login-page.js';

/** Longest username the demo accepts, in characters. */
export const MAX_USERNAME_LENGTH = 64;
/** Longest password the demo accepts, in characters. */
export const MAX_PASSWORD_LENGTH = 256;

export const INVALID_CREDENTIALS = 'Invalid username or password';

/** What the login form or JSON body must carry. */
export interface Credentials {
  username: string;
  password: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function requireText(params: SecurityParams, field: keyof Credentials, maxLength: number): string {
  const value = params[field];
  if (value === undefined || value === '') throw new BadRequestException(`${field} is required`);
  if (typeof value !== 'string') throw new BadRequestException(`${field} must be a string`);
  if (value.length > maxLength) {
    throw new BadRequestException(`${field} must be at most ${maxLength} characters`);
  }
  return value;
}

/** Checks the login body by hand: missing, non-string, over-long or odd values are a 400. */
export function readCredentials(params: SecurityParams): Credentials {
  const username = requireText(params, 'username', MAX_USERNAME_LENGTH);
  const password = requireText(params, 'password', MAX_PASSWORD_LENGTH);
  if (CONTROL_CHARS.test(username)) throw new BadRequestException('username must not contain control characters');
  return { username, password };
}

function wantsJson(request: unknown): boolean {
  const accept = (request as { headers?: { accept?: string } }).headers?.accept;
  return typeof accept === 'string' && accept.includes('application/json');
}

/**
 * The tutorial's username/password check: any username with the password `password`. A bad
 * body is a 400; wrong credentials show the form again (JSON clients get a JSON 401).
 */
export const usernamePassword: SecurityFn = ({ request, params }) => {
  const { username, password } = readCredentials(params);
  if (password === 'password') return { username };
  if (wantsJson(request)) {
    return deny({ status: 401, body: { statusCode: 401, message: INVALID_CREDENTIALS } });
  }
  return deny({
    status: 401,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: loginPage(INVALID_CREDENTIALS),
  });
};

/** Pages: a logged-in session passes with its username; anyone else goes to the login page. */
export const sessionAuth: SecurityFn = async ({ session }) => {
  const username = await session.get('username');
  return username === undefined ? redirectTo('/login') : { username };
};

/** JSON API: a logged-in session passes with its username; anyone else gets a 401. */
export const sessionApiAuth: SecurityFn = async ({ session }) => {
  const username = await session.get('username');
  return username === undefined ? false : { username };
};
