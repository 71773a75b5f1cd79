/**
 * `npm run bench:deadline`: what the `storeTimeout` deadline costs per store call.
 *
 * Loads one session from a `MemoryStore` (the cheapest store there is, so the deadline's share
 * is as large as it gets) bare, under the library's `withDeadline` (one timer per call, cleared
 * when the call settles) and under a `Promise.race` with the same timer, one call at a time and
 * 100 at once. Prints ns per call, best of 5 rounds. Nothing is written to disk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { MemoryStore, type SessionStore } from '@novanest/session';
import { withDeadline } from '../libs/session/src/persistence/store-deadline.js';

const CALLS = 200_000;
const ROUNDS = 5;
const TIMEOUT_MS = 3000;

type Variant = (store: SessionStore, key: string) => Promise<unknown>;

const variants: Record<string, Variant> = {
  bare: (store, key) => store.get(key),
  withDeadline: (store, key) => withDeadline(() => store.get(key), TIMEOUT_MS),
  'Promise.race': (store, key) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), TIMEOUT_MS);
    });
    return Promise.race([store.get(key), late]).finally(() => clearTimeout(timer));
  },
};

async function round(variant: Variant, store: SessionStore, key: string, parallel: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i += parallel) {
    if (parallel === 1) await variant(store, key);
    else await Promise.all(Array.from({ length: parallel }, () => variant(store, key)));
  }
  return Number(process.hrtime.bigint() - started) / CALLS;
}

async function main(): Promise<void> {
  const store = new MemoryStore();
  const key = createHash('sha256').update(randomBytes(32)).digest('base64url');
  await store.write(key, { mode: 'create', set: new Map([['user', 'ada']]), delete: [], clear: false, createdAt: Date.now(), ttl: 60_000 });
  for (const parallel of [1, 100]) {
    for (const [name, variant] of Object.entries(variants)) {
      await round(variant, store, key, parallel); // warm-up
      const times: number[] = [];
      for (let r = 0; r < ROUNDS; r++) times.push(await round(variant, store, key, parallel));
      console.log(
        `${parallel === 1 ? 'one at a time' : `${parallel} at once`}  ${name.padEnd(13)} ${Math.min(...times).toFixed(0)} ns/call`,
      );
    }
  }
  store.onApplicationShutdown();
}

await main();
