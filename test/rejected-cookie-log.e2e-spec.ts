/**
 * Quiet, useful logs: malformed, tampered or badly signed session cookies are client faults,
 * each answered with a fresh session; the log counts them and says so at warn level at most
 * once per 10 s, without any cookie's value. Logging does not depend on the HTTP platform, so
 * this runs on Express only.
 */
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { MemoryStore } from '@novanest/session';
import { CapturedLogger, startAppWithLogger } from './support/captured-logger.js';
import { cookieValue } from './support/cookies.js';
import { sessionTestModule } from './support/session-test.controller.js';
import { sleep } from './support/store-contract.js';

describe('rejected session cookies in the log', () => {
  let app: INestApplication;
  const logger = new CapturedLogger();

  beforeAll(async () => {
    app = await startAppWithLogger('express', sessionTestModule(new MemoryStore(), { secret: 's'.repeat(32) }), logger);
  });

  afterAll(async () => {
    await app?.close();
  });

  it(
    '300 malformed, tampered and badly signed cookies: no line per request, then one warn line with the counts',
    { timeout: 30_000 },
    async () => {
      const server = app.getHttpServer();
      const signed = (await request(server).post('/set').send({ key: 'a', value: 1 })).headers['set-cookie'] as unknown as string[];
      const good = signed[0].split(';')[0].slice('session_id='.length);
      const [id, signature] = good.split('.');
      const bad: string[] = [];
      for (let i = 0; i < 100; i++) bad.push(`garbage-${i}`);
      // Tampered: the signature of the real id under another id, or altered by one character.
      for (let i = 0; i < 100; i++) bad.push(`${randomBytes(32).toString('base64url')}.${signature}`);
      for (let i = 0; i < 100; i++) bad.push(`${id}.${signature.slice(0, 42)}${signature[42] === 'A' ? 'E' : 'A'}`);
      const started = Date.now();
      for (let i = 0; i < bad.length; i += 50) {
        const responses = await Promise.all(
          bad.slice(i, i + 50).map((value) => request(server).get('/read').set('Cookie', `session_id=${value}`)),
        );
        for (const response of responses) {
          // Each goes on as a new visitor with a fresh, validly signed id.
          expect(response.status).toBe(200);
          expect((response.body as { isNew: boolean }).isNew).toBe(true);
          expect(cookieValue(response)).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
        }
      }
      const rejectionLines = () => logger.sessionLines().filter((line) => line.message.startsWith('Rejected'));
      expect(rejectionLines()).toEqual([]);
      // The interval (10 s) runs from the first rejection.
      await sleep(Math.max(0, started + 10_500 - Date.now()));
      const lines = rejectionLines();
      expect(lines).toHaveLength(1);
      expect(lines[0].level).toBe('warn');
      expect(lines[0].message).toBe(
        'Rejected 300 session cookies in the last 10 s (malformed 100, bad signature 200); each request went on with a fresh session',
      );
      // No cookie value (nor any part of one) in anything the module logged.
      const everything = logger.lines.map((line) => line.message).join('\n');
      for (const value of [id, signature, ...bad.slice(100, 101)]) expect(everything).not.toContain(value);
      expect(everything).not.toContain('garbage-');
    },
  );
});
