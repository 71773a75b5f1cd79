/**
 * Fair eviction through HTTP: the demo app on a MemoryStore capped at 10,000 sessions
 * (SESSION_MEMORY_MAX_ENTRIES), flooded with 20,000 cookieless writes (GET /csrf-token, which stores each
 * visitor's CSRF secret). A user who logged in and
 * came back once stays logged in; one who logged in and never came back is what the flood
 * evicts. The process's RSS before and after the flood is printed, not asserted.
 */
import type { INestApplication } from '@nestjs/common';
import { MemoryStore, SessionStore } from '@novanest/session';
import { AppModule } from '../src/app.module.js';
import { PLATFORMS, startApp, urlOf } from './support/platforms.js';

const CAP = 10_000;
const FLOOD = 20_000;
/** Requests in flight at once during the flood. */
const CONCURRENCY = 16;

/** The `session_id=...` pair a response sets, ready for a Cookie header. */
function sessionCookie(response: Response): string {
  const line = response.headers.getSetCookie().find((each) => each.startsWith('session_id='));
  if (line === undefined) throw new Error('the response set no session cookie');
  return line.split(';')[0];
}

/** Logs in as the demo's form does: a token from GET /csrf-token, then POST /login with it. */
async function logIn(base: string, username: string): Promise<string> {
  const tokenResponse = await fetch(`${base}/csrf-token`, { headers: { accept: 'application/json' } });
  const { token } = (await tokenResponse.json()) as { token: string };
  const response = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: sessionCookie(tokenResponse), 'x-csrf-token': token },
    body: JSON.stringify({ username, password: 'password' }),
    redirect: 'manual',
  });
  expect(response.status).toBe(302);
  return sessionCookie(response);
}

/** GET / as the holder of `cookie` (as JSON): the user's name, or where it was sent instead. */
async function home(base: string, cookie: string): Promise<{ status: number; username?: string; location: string | null }> {
  const response = await fetch(`${base}/`, { headers: { cookie }, redirect: 'manual' });
  const text = await response.text();
  const username = /<h1>Hello (.*)<\/h1>/.exec(text)?.[1];
  return { status: response.status, ...(username === undefined ? {} : { username }), location: response.headers.get('location') };
}

/**
 * `count` cookieless writes, `CONCURRENCY` at a time; resolves with their statuses. Each is a
 * GET /csrf-token, which stores a session for its token: what a bot fetching the login page does.
 */
async function flood(base: string, count: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const response = await fetch(`${base}/csrf-token`);
      await response.arrayBuffer();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return statuses;
}

const megabytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

describe.each(PLATFORMS)('demo app on %s, MemoryStore capped at 10,000 sessions, 20,000 cookieless writes', (platform) => {
  let app: INestApplication;
  let base: string;
  const saved = { store: process.env.SESSION_STORE, cap: process.env.SESSION_MEMORY_MAX_ENTRIES };

  beforeAll(async () => {
    delete process.env.SESSION_STORE;
    process.env.SESSION_MEMORY_MAX_ENTRIES = String(CAP);
    app = await startApp(platform, AppModule);
    base = await urlOf(app);
  });

  afterAll(async () => {
    await app?.close();
    for (const [name, value] of [
      ['SESSION_STORE', saved.store],
      ['SESSION_MEMORY_MAX_ENTRIES', saved.cap],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('a user who logged in and came back once is still logged in after the flood; one who never came back is not', async () => {
    const store = app.get(SessionStore);
    expect(store).toBeInstanceOf(MemoryStore);

    const returning = await logIn(base, 'alice');
    expect(await home(base, returning)).toMatchObject({ status: 200, username: 'alice' });
    const oneVisit = await logIn(base, 'bob');

    const before = process.memoryUsage();
    const started = performance.now();
    const statuses = await flood(base, FLOOD);
    const seconds = (performance.now() - started) / 1000;
    const after = process.memoryUsage();

    expect(Object.fromEntries(statuses)).toEqual({ 200: FLOOD });
    expect((store as MemoryStore).size).toBe(CAP);
    expect(await home(base, returning)).toMatchObject({ status: 200, username: 'alice' });
    // The control: without coming back, a logged-in session is one of the flood's kind.
    expect(await home(base, oneVisit)).toMatchObject({ status: 302, location: '/login' });

    console.log(
      `[${platform}] ${FLOOD} cookieless writes in ${seconds.toFixed(1)} s; ` +
        `RSS ${megabytes(before.rss)} before, ${megabytes(after.rss)} after; ` +
        `heap used ${megabytes(before.heapUsed)} before, ${megabytes(after.heapUsed)} after; ` +
        `${(store as MemoryStore).size} sessions, ${(store as MemoryStore).bytes} bytes of session JSON held`,
    );
  }, 120_000);
});
