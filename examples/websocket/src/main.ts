import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

function portFromEnv(): number {
  const raw = process.env.PORT ?? '3000';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a number between 0 and 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

// socket.io is Nest's default WebSocket adapter: nothing to configure.
const app = await NestFactory.create(AppModule);
app.enableShutdownHooks();
await app.listen(portFromEnv(), process.env.HOST ?? '0.0.0.0');
new Logger('WebSocketExample').log(`Listening on ${await app.getUrl()}`);
