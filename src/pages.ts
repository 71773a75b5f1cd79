import { SafeHtml, html } from './html.js';
import { MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH } from './credentials.js';

/** The page's look: a little inline CSS, no scripts, no external resources. */
const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { background: #24292f; color: #fff; padding: .75rem 1.5rem; display: flex; gap: 1rem; align-items: center; }
  header a, header button { color: #fff; }
  header .brand { font-weight: 600; text-decoration: none; margin-right: auto; }
  main { max-width: 48rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; }
  h1 { margin-top: 0; font-size: 1.5rem; }
  label { display: block; margin: .75rem 0 .25rem; }
  input { display: block; width: 100%; box-sizing: border-box; margin-bottom: .75rem; padding: .45rem .6rem; font: inherit; border: 1px solid #d0d7de; border-radius: 6px; }
  button { font: inherit; padding: .4rem .9rem; border-radius: 6px; border: 1px solid #d0d7de; background: #f6f8fa; cursor: pointer; }
  button.primary { background: #1f883d; border-color: #1f883d; color: #fff; }
  header button { background: transparent; border-color: #57606a; }
  form.inline { display: inline; margin: 0; }
  .flash { padding: .6rem .9rem; border-radius: 6px; margin-bottom: 1rem; }
  .notice { background: #dafbe1; border: 1px solid #4ac26b; }
  .error { background: #ffebe9; border: 1px solid #ff8182; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: .5rem .4rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
  td time, td button { white-space: nowrap; }
  .muted { color: #57606a; font-size: .9em; }
  .tag { background: #ddf4ff; border: 1px solid #54aeff; border-radius: 1em; padding: 0 .5em; font-size: .85em; white-space: nowrap; }
`;

/** What the header shows: the user and a logout button once logged in. */
export interface PageUser {
  username: string;
  /** The session's CSRF token, for the logout button's form. */
  csrfToken: string;
}

/** Messages shown once above a page's content (flash messages). */
export interface PageMessages {
  notice?: string;
  error?: string;
}

function messages({ notice, error }: PageMessages = {}): SafeHtml {
  return html`${notice === undefined ? '' : html`<p class="flash notice" role="status">${notice}</p>`}${
    error === undefined ? '' : html`<p class="flash error" role="alert">${error}</p>`
  }`;
}

/** The hidden field that carries the session's CSRF token in a form. */
function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token}" />`;
}

function header(user: PageUser | undefined): SafeHtml {
  const right =
    user === undefined
      ? html`<a href="/login">Log in</a>`
      : html`<span>Signed in as <strong>${user.username}</strong></span>
          <a href="/sessions">Sessions</a>
          <form class="inline" method="post" action="/logout">${csrfField(user.csrfToken)}<button type="submit">Log out</button></form>`;
  return html`<header>
    <a class="brand" href="/">NovaNest demo</a>
    ${right}
  </header>`;
}

/** The shared layout: every page is this with a title and a body. */
export function layout(title: string, body: SafeHtml, user?: PageUser): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · NovaNest demo</title>
        <style>
          ${new SafeHtml(STYLE)}
        </style>
      </head>
      <body>
        ${header(user)}
        <main>${body}</main>
      </body>
    </html>`.value;
}

/** What the login page shows. */
export interface LoginPageOptions extends PageMessages {
  csrfToken: string;
  /** The username to fill in again (after a failed attempt). */
  username?: string;
}

/** The login form (the Nova tutorial's), with the session's CSRF token. */
export function loginPage(options: LoginPageOptions): string {
  return layout(
    'Log in',
    html`<h1>Log in</h1>
      ${messages(options)}
      <form method="post" action="/login">
        ${csrfField(options.csrfToken)}
        <label for="username">Username</label>
        <input
          id="username"
          name="username"
          value="${options.username ?? ''}"
          autocomplete="username"
          maxlength="${MAX_USERNAME_LENGTH}"
          required
          autofocus
        />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" maxlength="${MAX_PASSWORD_LENGTH}" required />
        <button class="primary" type="submit">Log in</button>
      </form>
      <p class="muted">Any username works with the password <code>password</code>.</p>`,
  );
}

/** The home page of a logged-in user. */
export function homePage(user: PageUser, flash: PageMessages = {}): string {
  return layout(
    'Home',
    html`<h1>Hello ${user.username}</h1>
      ${messages(flash)}
      <p>You are logged in. See <a href="/sessions">where you are logged in</a>, and log out any device.</p>
      <form method="post" action="/logout">${csrfField(user.csrfToken)}<button type="submit">Log out</button></form>`,
    user,
  );
}

/** One row of the sessions page. */
export interface SessionRow {
  handle: string;
  device: string;
  userAgent: string | undefined;
  createdAt: Date;
  lastSeenAt: Date;
  current: boolean;
}

/** `2026-12-07 12:03 UTC`: unambiguous without any script to localise it. */
function formatTime(time: Date): string {
  return `${time.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function sessionRow(row: SessionRow, csrfToken: string): SafeHtml {
  const action = row.current
    ? html`<span class="tag">This device</span>`
    : html`<form class="inline" method="post" action="/sessions/${row.handle}/revoke">
        ${csrfField(csrfToken)}<button type="submit">Log out this device</button>
      </form>`;
  return html`<tr data-handle="${row.handle}" ${row.current ? html` aria-current="true"` : ''}>
    <td><span title="${row.userAgent ?? ''}">${row.device}</span></td>
    <td><time datetime="${row.createdAt.toISOString()}">${formatTime(row.createdAt)}</time></td>
    <td><time datetime="${row.lastSeenAt.toISOString()}">${formatTime(row.lastSeenAt)}</time></td>
    <td>${action}</td>
  </tr>`;
}

/** The user's sessions, each with a button to end it, and "log out everywhere else". */
export function sessionsPage(user: PageUser, rows: readonly SessionRow[], flash: PageMessages = {}): string {
  const others = rows.filter((row) => !row.current).length;
  const everywhereElse =
    others === 0
      ? html`<p class="muted">You are not logged in anywhere else.</p>`
      : html`<form method="post" action="/sessions/revoke-others">
          ${csrfField(user.csrfToken)}<button type="submit">Log out everywhere else</button>
        </form>`;
  return layout(
    'Sessions',
    html`<h1>Your sessions</h1>
      ${messages(flash)}
      <table>
        <thead>
          <tr>
            <th>Device</th>
            <th>Logged in</th>
            <th>Last seen</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${rows.map((row) => sessionRow(row, user.csrfToken))}
        </tbody>
      </table>
      <p>${everywhereElse}</p>`,
    user,
  );
}

/** An error page: the status, a title and what the visitor can do next; `user` fills the header. */
export function errorPage(status: number, title: string, detail: string, user?: PageUser): string {
  const next = status === 401 ? html`<p><a href="/login">Log in</a></p>` : html`<p><a href="/">Go to the home page</a></p>`;
  return layout(
    title,
    html`<h1>${title}</h1>
      <p class="muted">Error ${status}</p>
      <p>${detail}</p>
      ${next}`,
    user,
  );
}
