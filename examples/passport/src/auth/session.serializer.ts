import { Injectable } from '@nestjs/common';
import { PassportSerializer } from '@nestjs/passport';
import type { PublicUser } from './auth.service.js';

/** Keeps the whole (password-free) user in the session, as the Nest docs do. */
@Injectable()
export class SessionSerializer extends PassportSerializer {
  serializeUser(user: PublicUser, done: (error: Error | null, user: PublicUser) => void): void {
    done(null, user);
  }

  deserializeUser(payload: PublicUser, done: (error: Error | null, payload: PublicUser) => void): void {
    done(null, payload);
  }
}
