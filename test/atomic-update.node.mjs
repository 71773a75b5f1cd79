// One node of the atomic-update e2e (test/atomic-update.e2e-spec.ts): the built demo's
// controllers (dist/demo/src), so POST /counter/increment is the demo's own session.update,
// over a store chosen by ATOMIC_STORE (redis | near-cache | cluster | postgres) at
// ATOMIC_STORE_URL, with the store's compareAndSet counted (attempts, refusals) and reported
// to the parent over IPC when it sends 'stats'. Listens on loopback, port PORT.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SessionModule } from '@novanest/session';
import { RedisStore } from '@novanest/session/redis';
import { PostgresStore } from '@novanest/session/postgres';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';

const demo = process.env.DEMO_DIR;
const { CounterController } = await import(`${demo}/counter.controller.js`);
const { MainController } = await import(`${demo}/main.controller.js`);
// What MainController injects (its login check and its page writer).
const { UsernamePassword } = await import(`${demo}/security.js`);
const { Web } = await import(`${demo}/web.js`);

const stats = { attempts: 0, refused: 0, gone: 0 };
/** Counts each compare-and-set and its outcome; the store does the work. */
function counted(store) {
  const compareAndSet = store.compareAndSet.bind(store);
  store.compareAndSet = async (...args) => {
    const result = await compareAndSet(...args);
    stats.attempts++;
    if (result.outcome === 'changed') stats.refused++;
    if (result.outcome === 'gone') stats.gone++;
    return result;
  };
  return store;
}

const kind = process.env.ATOMIC_STORE;
const url = process.env.ATOMIC_STORE_URL;
const prefix = process.env.ATOMIC_PREFIX;
const closers = [];
let store;
if (kind === 'redis' || kind === 'near-cache') {
  const client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2000 });
  closers.push(() => client.quit());
  store = new RedisStore({ client, prefix, localCache: kind === 'near-cache' });
} else if (kind === 'cluster') {
  const nodes = url.split(',').map((node) => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) }));
  const client = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 2000 } });
  closers.push(() => client.quit());
  store = new RedisStore({ client, prefix });
} else if (kind === 'postgres') {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  closers.push(() => pool.end());
  store = new PostgresStore({ pool, table: process.env.ATOMIC_TABLE, createTable: true });
} else {
  throw new Error(`ATOMIC_STORE must be redis, near-cache, cluster or postgres, got ${kind}`);
}

class AtomicNodeModule {}
Module({
  imports: [SessionModule.forRoot(counted(store), { failFast: true })],
  controllers: [MainController, CounterController],
  providers: [UsernamePassword, Web],
})(AtomicNodeModule);

const app = await NestFactory.create(AtomicNodeModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
await app.listen(Number(process.env.PORT), '127.0.0.1');
process.on('message', (message) => {
  if (message === 'stats') process.send?.({ stats: { ...stats, nearCache: store.localCacheStatus ?? null } });
});
process.on('SIGTERM', async () => {
  await app.close();
  await Promise.allSettled(closers.map((close) => close()));
  process.exit(0);
});
console.log(`atomic-update node listening on 127.0.0.1:${process.env.PORT}`);
