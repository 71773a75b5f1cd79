import { Controller, Get, Module, Post, Res, Body } from '@nestjs/common';
import request from 'supertest';
import { Session, SessionModule } from '@novanest/session';
import { PLATFORMS, startApp } from './support/platforms.js';

@Controller()
class C {
  @Get('n') async n(@Session() s: Session) { return { n: (await s.get<number>('n')) ?? 0, id: s.id }; }
  @Post('n') async inc(@Session() s: Session) { const n = ((await s.get<number>('n')) ?? 0) + 1; await s.set('n', n); return { n }; }
  @Post('r') async r(@Session() s: Session, @Res() res: any) { await s.set('r', 1); res.redirect(302, '/n'); }
}
@Module({ imports: [SessionModule.forRoot()], controllers: [C] })
class M {}

describe.each(PLATFORMS)('smoke on %s', (platform) => {
  it('counts', async () => {
    const app = await startApp(platform, M);
    const agent = request.agent(app.getHttpServer());
    const first = await agent.get('/n');
    console.log(first.headers['set-cookie'], first.body);
    await agent.post('/n');
    const r = await agent.post('/n');
    console.log(r.headers['set-cookie'], r.body);
    const red = await agent.post('/r');
    console.log(red.status, red.headers);
    expect((await agent.get('/n')).body.n).toBe(2);
    await app.close();
  });
});
