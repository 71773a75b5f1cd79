/**
 * The demo's pages in a real browser: headless Chromium (Debian's, /usr/bin/chromium) driven by
 * playwright-core, against the demo on Express and on Fastify. A person's flows: a failed login
 * that keeps the username, the home page, the sessions page from a second device, revoking
 * it, logging out everywhere else, the logout button and its flash, a 404 page, and a form
 * posted from another origin that is refused.
 *
 * Chromium is not optional: without it the suite fails with one sentence saying how to
 * install it.
 */
import { existsSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { AppModule } from '../src/app.module.js';
import { PLATFORMS, startApp, urlOf } from './support/platforms.js';

const CHROMIUM = '/usr/bin/chromium';
const FIREFOX_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
const MAC_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15';

async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y --no-install-recommends chromium\`.`);
  }
  // Chromium refuses its sandbox as root (containers, CI); elsewhere it keeps it.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** Logs in through the form and waits for the home page. */
async function logIn(page: Page, base: string, username: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: `Hello ${username}` }).waitFor();
}

/** The rows of the sessions page: device text and whether it is marked as this device. */
async function sessionRows(page: Page): Promise<Array<{ device: string; current: boolean }>> {
  return page.locator('tbody tr').evaluateAll((rows) =>
    rows.map((row) => ({
      device: row.querySelector('td')?.textContent?.trim() ?? '',
      current: row.getAttribute('aria-current') === 'true' && (row.textContent ?? '').includes('This device'),
    })),
  );
}

/** A page on another origin (another port of the same host) that posts a form to the demo. */
async function startAttackerSite(target: string, token: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>Win a prize</title>
<form id="f" method="post" action="${target}/sessions/revoke-others">
  <input type="hidden" name="_csrf" value="${token}"><button>Claim</button>
</form>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

describe.each(PLATFORMS)('demo in Chromium on %s', (platform) => {
  let app: INestApplication;
  let base: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  /** A fresh browser profile (a device): its own cookies, and a user agent if given. */
  async function device(userAgent?: string): Promise<Page> {
    const context = await browser.newContext(userAgent === undefined ? {} : { userAgent });
    contexts.push(context);
    return context.newPage();
  }

  beforeAll(async () => {
    browser = await launchChromium();
    app = await startApp(platform, AppModule);
    base = await urlOf(app);
  });
  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()));
    await browser?.close();
    await app?.close();
  });

  it('a failed login shows the error and keeps the username; the next attempt opens the home page', async () => {
    const page = await device();
    await page.goto(`${base}/login`);
    expect(await page.title()).toBe('Log in · NovaNest demo');
    await page.getByLabel('Username').fill('ada');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expectText(page.getByRole('alert'), 'Invalid username or password');
    expect(await page.getByLabel('Username').inputValue()).toBe('ada');

    await page.getByLabel('Password').fill('password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Hello ada' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await page.getByRole('link', { name: 'Sessions' }).getAttribute('href')).toBe('/sessions');
    expect(await page.getByRole('button', { name: 'Log out' }).count()).toBeGreaterThan(0);
  });

  it('a second device shows on /sessions; revoking it sends its next page load to the login page', async () => {
    const laptop = await device();
    const phone = await device(FIREFOX_UA);
    await logIn(laptop, base, 'bea');
    await logIn(phone, base, 'bea');

    await laptop.goto(`${base}/sessions`);
    const rows = await sessionRows(laptop);
    expect(rows).toHaveLength(2);
    expect(rows.filter((row) => row.current)).toHaveLength(1);
    expect(rows.find((row) => row.current)?.device).toBe('Headless Chrome on Linux');
    expect(rows.find((row) => !row.current)?.device).toBe('Firefox on Linux');

    await laptop.getByRole('button', { name: 'Log out this device' }).click();
    await expectText(laptop.getByRole('status'), 'That device is logged out.');
    expect(await sessionRows(laptop)).toHaveLength(1);

    await phone.reload();
    await phone.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(new URL(phone.url()).pathname).toBe('/login');
  });

  it('"Log out everywhere else" ends every other device and keeps this one', async () => {
    const desk = await device();
    const others = [await device(FIREFOX_UA), await device(MAC_UA)];
    await logIn(desk, base, 'cy');
    for (const other of others) await logIn(other, base, 'cy');

    await desk.goto(`${base}/sessions`);
    expect(await sessionRows(desk)).toHaveLength(3);
    await desk.getByRole('button', { name: 'Log out everywhere else' }).click();
    await expectText(desk.getByRole('status'), 'Logged out 2 other sessions.');
    expect(await sessionRows(desk)).toEqual([{ device: 'Headless Chrome on Linux', current: true }]);

    for (const other of others) {
      await other.goto(`${base}/`);
      expect(new URL(other.url()).pathname).toBe('/login');
    }
    await desk.goto(`${base}/`);
    await desk.getByRole('heading', { name: 'Hello cy' }).waitFor();
  });

  it('the logout button ends the session and the login page says "Logged out" once', async () => {
    const page = await device();
    await logIn(page, base, 'dee');
    await page.locator('main').getByRole('button', { name: 'Log out' }).click();
    await expectText(page.getByRole('status'), 'Logged out');
    expect(new URL(page.url()).pathname).toBe('/login');

    await page.reload();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(await page.getByRole('status').count()).toBe(0);
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });

  it('an unknown path shows the 404 page', async () => {
    const page = await device();
    const response = await page.goto(`${base}/no/such/page`);
    expect(response?.status()).toBe(404);
    expect(response?.headers()['content-type']).toMatch(/^text\/html/);
    await expectText(page.getByRole('heading', { level: 1 }), 'Page not found');
    expect(await page.locator('main').textContent()).toContain('There is nothing at /no/such/page.');
  });

  it('a form posted from another origin is refused with 403, even with a leaked token, and changes nothing', async () => {
    const page = await device();
    const other = await device(FIREFOX_UA);
    await logIn(page, base, 'eve');
    await logIn(other, base, 'eve');
    const token = await page.locator('input[name="_csrf"]').first().getAttribute('value');
    expect(token).toMatch(/^[A-Za-z0-9_-]{86}$/);

    const attacker = await startAttackerSite(base, token ?? '');
    try {
      await page.goto(attacker.url);
      const [response] = await Promise.all([
        page.waitForResponse((candidate) => candidate.request().method() === 'POST'),
        page.getByRole('button', { name: 'Claim' }).click(),
      ]);
      expect(response.status()).toBe(403);
      await expectText(page.getByRole('heading', { level: 1 }), 'Request refused');
    } finally {
      await new Promise((resolve) => attacker.server.close(resolve));
    }

    await page.goto(`${base}/sessions`);
    expect(await sessionRows(page)).toHaveLength(2);
    await other.goto(`${base}/`);
    await other.getByRole('heading', { name: 'Hello eve' }).waitFor();
  });
});

/** Waits for the locator to be visible and checks its whole text. */
async function expectText(locator: ReturnType<Page['locator']>, text: string): Promise<void> {
  await locator.first().waitFor();
  expect((await locator.first().textContent())?.trim()).toBe(text);
}
