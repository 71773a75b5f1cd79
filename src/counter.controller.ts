import { BadRequestException, Controller, HttpCode, Post } from '@nestjs/common';
import { Session } from '@novanest/session';

const NOT_INITIALISED = 'Counter not initialised: POST /counter/init first';

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

  /**
   * Adds one, atomically: concurrent increments (from tabs, retries, other nodes) all count.
   * 400 when the session has no counter yet. The step function may run more than once, so it
   * only computes.
   */
  @Post('increment')
  @HttpCode(200)
  async increment(@Session() session: Session): Promise<{ counter: number }> {
    const counter = await session.update('counter', (current) => {
      if (typeof current !== 'number') throw new BadRequestException(NOT_INITIALISED);
      return current + 1;
    });
    // undefined: the session was destroyed meanwhile (a logout won), so there is no counter.
    if (counter === undefined) throw new BadRequestException(NOT_INITIALISED);
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
