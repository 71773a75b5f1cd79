import { BadRequestException, Controller, HttpCode, Post } from '@nestjs/common';
import { Session } from '@novanest/session';

/** The Compas counter example as a JSON API. */
@Controller('counter')
export class CounterController {
  /** Starts (or restarts) the counter at 0. */
  @Post('init')
  @HttpCode(200)
  async init(@Session() session: Session): Promise<{ counter: number }> {
    await session.set('counter', 0);
    return { counter: 0 };
  }

  /** Adds one; 400 when the session has no counter yet. */
  @Post('increment')
  @HttpCode(200)
  async increment(@Session() session: Session): Promise<{ counter: number }> {
    const current = await session.get('counter');
    if (typeof current !== 'number') {
      throw new BadRequestException('Counter not initialised: POST /counter/init first');
    }
    const counter = current + 1;
    await session.set('counter', counter);
    return { counter };
  }

  /** Ends the whole session (counter and login alike). */
  @Post('destroy')
  @HttpCode(200)
  async destroy(@Session() session: Session): Promise<{ destroyed: true }> {
    await session.destroy();
    return { destroyed: true };
  }
}
