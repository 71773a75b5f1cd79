// A login / guarded route / logout round of real HTTP requests against a booted consumer app
// (the routes of test/consumers/*/src/auth.controller.ts). Throws with one sentence on the first
// answer that is not what a user of the library gets.

const ID = /^[A-Za-z0-9_-]{43}$/;

function sessionCookie(response) {
  return response.headers.getSetCookie().find((cookie) => cookie.startsWith('session_id='));
}

function cookieValue(cookie) {
  return cookie?.split(';')[0].slice('session_id='.length);
}

async function call(base, method, path, { cookie, body } = {}) {
  const headers = { accept: 'application/json' };
  if (cookie) headers.cookie = `session_id=${cookie}`;
  if (body) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(path, base), { method, headers, body: body ? JSON.stringify(body) : undefined, redirect: 'manual' });
  const text = await response.text();
  return { status: response.status, text, cookie: sessionCookie(response) };
}

function expectStatus(step, answer, status) {
  if (answer.status !== status) throw new Error(`${step}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 200)}`);
}

/** Runs the round against `base` (e.g. http://127.0.0.1:3000); returns the lines it checked. */
export async function httpRound(base) {
  const checked = [];

  const refused = await call(base, 'GET', '/auth/me');
  expectStatus('GET /auth/me before login', refused, 401);
  checked.push('GET /auth/me before login: 401');

  const home = await call(base, 'GET', '/');
  expectStatus('GET /', home, 200);
  const anonymousId = cookieValue(home.cookie);
  if (!ID.test(anonymousId ?? '')) throw new Error(`GET /: expected a session_id cookie, got ${home.cookie}`);

  const wrong = await call(base, 'POST', '/auth/login', { cookie: anonymousId, body: { username: 'ada', password: 'wrong' } });
  expectStatus('POST /auth/login with a wrong password', wrong, 401);

  const login = await call(base, 'POST', '/auth/login', { cookie: anonymousId, body: { username: 'ada', password: 'password' } });
  expectStatus('POST /auth/login', login, 200);
  const id = cookieValue(login.cookie);
  if (!ID.test(id ?? '') || id === anonymousId) throw new Error(`POST /auth/login: expected a new session id, got ${login.cookie}`);
  checked.push('POST /auth/login: 200 with a new session id');

  const me = await call(base, 'GET', '/auth/me', { cookie: id });
  expectStatus('GET /auth/me after login', me, 200);
  if (JSON.parse(me.text).username !== 'ada') throw new Error(`GET /auth/me after login: expected ada, got ${me.text}`);
  checked.push('GET /auth/me after login: 200 {"username":"ada"}');

  const logout = await call(base, 'POST', '/auth/logout', { cookie: id });
  expectStatus('POST /auth/logout', logout, 200);
  if (!/Expires=Thu, 01 Jan 1970|Max-Age=0/i.test(logout.cookie ?? '')) {
    throw new Error(`POST /auth/logout: expected the cookie to be expired, got ${logout.cookie}`);
  }
  checked.push('POST /auth/logout: 200, cookie expired');

  const after = await call(base, 'GET', '/auth/me', { cookie: id });
  expectStatus('GET /auth/me with the logged-out cookie', after, 401);
  checked.push('GET /auth/me with the logged-out cookie: 401');
  return checked;
}
