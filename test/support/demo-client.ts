import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

type Server = ReturnType<INestApplication['getHttpServer']>;
export type Agent = ReturnType<typeof request.agent>;

/** The CSRF token in a page's forms (the `_csrf` hidden field); fails when there is none. */
export function tokenIn(page: { text: string }): string {
  const match = /name="_csrf" value="([A-Za-z0-9_-]{86})"/.exec(page.text);
  if (match === null) throw new Error(`no CSRF token in the page:\n${page.text.slice(0, 500)}`);
  return match[1];
}

/** The value the login form's username field is filled with (as written in the HTML, escaped). */
export function usernameField(page: { text: string }): string | undefined {
  return /<input\b[^>]*\sname="username"[^>]*\svalue="([^"]*)"/.exec(page.text)?.[1];
}

/** A browser-like visitor: a cookie jar, a user agent, and the token of the login page it opened. */
export async function visitor(
  server: Server,
  userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36',
): Promise<{ agent: Agent; token: string }> {
  const agent = request.agent(server).set('User-Agent', userAgent);
  const page = await agent.get('/login').set('Accept', 'text/html');
  if (page.status !== 200) throw new Error(`GET /login answered ${page.status}`);
  return { agent, token: tokenIn(page) };
}

/** A JSON client with a cookie jar and a token from GET /csrf-token. */
export async function jsonClient(server: Server): Promise<{ agent: Agent; token: string }> {
  const agent = request.agent(server).set('Accept', 'application/json');
  const response = await agent.get('/csrf-token');
  if (response.status !== 200) throw new Error(`GET /csrf-token answered ${response.status}`);
  return { agent, token: (response.body as { token: string }).token };
}

/** A visitor logged in through the form, with the token of its home page (the login renewed it). */
export async function loggedIn(server: Server, username: string, userAgent?: string): Promise<{ agent: Agent; token: string }> {
  const { agent, token: loginToken } = await visitor(server, userAgent);
  const login = await agent.post('/login').type('form').send({ _csrf: loginToken, username, password: 'password' });
  if (login.status !== 302) throw new Error(`POST /login answered ${login.status}: ${login.text.slice(0, 300)}`);
  const home = await agent.get('/').set('Accept', 'text/html');
  if (home.status !== 200) throw new Error(`GET / answered ${home.status}`);
  return { agent, token: tokenIn(home) };
}
