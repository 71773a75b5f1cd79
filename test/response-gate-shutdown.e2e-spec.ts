/**
 * The response gate gives Express's per-application response prototype gated writers; an
 * application that shuts down gives them back, unless another application still serves
 * through the same prototype (two Nest apps over one Express instance).
 */
import { Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import express from 'express';
import { ServerResponse } from 'node:http';
import request from 'supertest';
import { Session, SessionModule } from '@novanest/session';
import { startApp } from './support/platforms.js';

@Controller()
class CounterController {
  @Post('count')
  async count(@Session() session: Session) {
    const n = Number((await session.get('n')) ?? 0) + 1;
    await session.set('n', n);
    return { n };
  }
}

@Module({ imports: [SessionModule.forRoot()], controllers: [CounterController] })
class CounterModule {}

const WRITERS = ['writeHead', 'write', 'end', 'flushHeaders'];

function gatedWriters(proto: object): string[] {
  return WRITERS.filter((method) => Object.prototype.hasOwnProperty.call(proto, method));
}

describe('response gate at application shutdown (express)', () => {
  it('gives the response prototype its writers back when the application closes', async () => {
    const app = await startApp('express', CounterModule);
    const proto = (app.getHttpAdapter().getInstance() as { response: object }).response;
    try {
      const response = await request(app.getHttpServer()).post('/count');
      expect(response.status).toBe(201);
      expect(response.headers['set-cookie']).toBeDefined();
      expect(gatedWriters(proto)).toEqual(WRITERS);
    } finally {
      await app.close();
    }
    expect(gatedWriters(proto)).toEqual([]);
    expect((proto as ServerResponse).end).toBe(ServerResponse.prototype.end);
  });

  it('keeps a prototype two applications share gated until the last of them closes', async () => {
    const server = express();
    const first = await NestFactory.create(CounterModule, new ExpressAdapter(server), { logger: false });
    await first.init();
    const second = await NestFactory.create(CounterModule, new ExpressAdapter(server), { logger: false });
    await second.init();
    const proto = server.response as object;
    try {
      const response = await request(server).post('/count');
      expect(response.status).toBe(201);
      expect(gatedWriters(proto)).toEqual(WRITERS);

      await first.close();
      expect(gatedWriters(proto)).toEqual(WRITERS);
      // The application still running serves as before, its cookie added when the response leaves.
      const again = await request(server).post('/count');
      expect(again.status).toBe(201);
      expect(again.headers['set-cookie']).toBeDefined();
    } finally {
      await first.close();
      await second.close();
    }
    expect(gatedWriters(proto)).toEqual([]);
  });
});
