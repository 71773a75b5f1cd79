/**
 * Quiet logs: a Redis outage under load fails every request that needs the store, and the log
 * gets one line when it starts and one summary per 10 s, not one line per request. Logging
 * does not depend on the HTTP platform, so this runs on Express only.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';
import { RedisStore } from '@novanest/session/redis';
import { CapturedLogger, startAppWithLogger } from './support/captured-logger.js';
import { sessionTestModule } from './support/session-test.controller.js';
import { serviceUrl, sleep } from './support/store-contract.js';
import { TcpProxy } from './support/tcp-proxy.js';

describe('store failures in the log', () => {
  let proxy: TcpProxy;
  let client: Redis;
  let app: INestApplication;
  const logger = new CapturedLogger();

  beforeAll(async () => {
    const fronted = await TcpProxy.inFrontOf(serviceUrl('redis'), 6379);
    proxy = fronted.proxy;
    client = new Redis(fronted.viaProxy.href, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    client.on('error', () => undefined);
    if (client.status !== 'ready') await once(client, 'ready');
    const prefix = `failure-log:${randomBytes(6).toString('hex')}:`;
    app = await startAppWithLogger('express', sessionTestModule(new RedisStore({ client, prefix })), logger);
  });

  afterAll(async () => {
    await app?.close();
    client?.disconnect();
    await proxy?.down();
  });

  it(
    'a 10 s outage under load: one line when it starts, then one summary per 10 s with the counts, nothing per request',
    { timeout: 45_000 },
    async () => {
      const server = app.getHttpServer();
      const storeLines = () => logger.lines.filter((line) => line.context === 'SessionModule' && line.message.startsWith('Session store'));
      let unavailable = 0;
      let running = true;
      async function client(n: number): Promise<void> {
        while (running) {
          const response = await request(server)
            .post('/set')
            .send({ key: `k${n}`, value: n });
          if (response.status === 503) unavailable++;
        }
      }
      await proxy.down();
      const started = Date.now();
      const clients = Array.from({ length: 4 }, (_, n) => client(n));
      await sleep(10_000);
      running = false;
      await Promise.all(clients);
      await proxy.up();
      // A summary comes every 10 s after the first failure while failures go on: the last
      // requests of the outage may fall into a second interval.
      await sleep(Math.max(0, started + 20_500 - Date.now()));

      const lines = storeLines();
      console.info(`a 10 s Redis outage under load: ${unavailable} requests answered 503, ${lines.length} log lines`);
      expect(unavailable).toBeGreaterThan(100);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(lines.length).toBeLessThanOrEqual(3);
      expect(lines[0]).toMatchObject({ level: 'error' });
      expect(lines[0].message).toMatch(/^Session store write failed: .+ \(further failures are counted and reported every 10 s\)$/);
      let counted = 0;
      for (const line of lines.slice(1)) {
        const summary = /^Session store failed (\d+) more times in the last 10 s \(write (\d+)\); last: .+$/.exec(line.message);
        expect(summary, line.message).not.toBeNull();
        expect(Number(summary![2])).toBe(Number(summary![1]));
        counted += Number(summary![1]);
      }
      // Every failure is accounted for: the first line plus the counted ones.
      expect(1 + counted).toBe(unavailable);
    },
  );
});
