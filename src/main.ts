import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createDemoApp } from './demo-app.js';

function portFromEnv(): number {
  const raw = process.env.PORT ?? '3000';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a number between 0 and 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

async function bootstrap(): Promise<void> {
  const app = await createDemoApp(process.env);
  app.enableShutdownHooks();
  await app.listen(portFromEnv(), process.env.HOST ?? '0.0.0.0');
  new Logger('Demo').log(`Listening on ${await app.getUrl()}`);
}

await bootstrap();
