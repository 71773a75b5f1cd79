// One node of the multi-node e2e (test/multi-node.e2e-spec.ts): the built demo's AppModule
// (dist/demo/src/app.module.js), booted as src/main.ts boots it, but listening on loopback only.
// Environment: DEMO_APP_MODULE (file URL of app.module.js), PORT, SESSION_STORE, SESSION_NEAR_CACHE.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';

const { AppModule } = await import(process.env.DEMO_APP_MODULE);
const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
await app.listen(Number(process.env.PORT), '127.0.0.1');
console.log(`multi-node demo listening on 127.0.0.1:${process.env.PORT}`);
