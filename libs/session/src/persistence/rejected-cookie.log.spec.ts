import type { Logger } from '@nestjs/common';
import { RejectedCookieLog } from './rejected-cookie.log.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function capturingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message) } as unknown as Logger;
  return { logger, warnings };
}

describe('RejectedCookieLog', () => {
  it('reports N rejections as one warn line per interval, with the count by reason', async () => {
    const { logger, warnings } = capturingLogger();
    const log = new RejectedCookieLog(logger, 100);
    for (let i = 0; i < 500; i++) log.record('malformed');
    for (let i = 0; i < 250; i++) log.record('bad signature');
    // Nothing per cookie.
    expect(warnings).toEqual([]);
    await sleep(150);
    expect(warnings).toEqual([
      'Rejected 750 session cookies in the last 0.1 s (malformed 500, bad signature 250); each request went on with a fresh session',
    ]);
    // The next interval reports only its own.
    log.record('malformed');
    await sleep(100);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toBe('Rejected 1 session cookie in the last 0.1 s (malformed 1); each request went on with a fresh session');
  });

  it('stays silent when nothing is rejected, and stops its timer after a quiet interval', async () => {
    const { logger, warnings } = capturingLogger();
    const log = new RejectedCookieLog(logger, 50);
    await sleep(120);
    expect(warnings).toEqual([]);
    log.record('malformed');
    await sleep(200);
    // One line for the one rejection; the quiet intervals after it add none.
    expect(warnings).toHaveLength(1);
    expect((log as unknown as { timer: unknown }).timer).toBeUndefined();
  });
});
