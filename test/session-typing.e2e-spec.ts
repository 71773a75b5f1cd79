import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import request from 'supertest';
import { Session, SessionModule } from '@novanest/session';
import { startApp } from './support/platforms.js';

// Keys declared by declaration merging are typed in get and set; `npm test` runs tsc first,
// so the @ts-expect-error lines below fail the run if the typing ever loosens.
declare module '@novanest/session' {
  interface SessionData {
    typingProbeVisits: number;
  }
}

@Controller()
class TypingController {
  @Get('visits')
  async visits(@Session() session: Session) {
    const visits: number | undefined = await session.get('typingProbeVisits');
    await session.set('typingProbeVisits', (visits ?? 0) + 1);
    // The call is never made: only the compiler's verdict on it matters.
    // @ts-expect-error a declared key only takes its declared type
    const refused: Promise<void> | undefined = false ? session.set('typingProbeVisits', 'many') : undefined; // eslint-disable-line no-constant-condition -- never called
    // Keys that are not declared stay unknown and accept any JSON value.
    await session.set('undeclared', { any: ['json'] });
    return { visits: await session.get('typingProbeVisits'), refused: refused === undefined };
  }
}

@Module({ imports: [SessionModule.forRoot()], controllers: [TypingController] })
class TypingModule {}

describe('typed session data', () => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await startApp('express', TypingModule);
  });
  afterAll(() => app.close());

  it('reads and writes declared keys with their types', async () => {
    const agent = request.agent(app.getHttpServer());
    expect((await agent.get('/visits')).body).toEqual({ visits: 1, refused: true });
    expect((await agent.get('/visits')).body).toEqual({ visits: 2, refused: true });
  });
});
