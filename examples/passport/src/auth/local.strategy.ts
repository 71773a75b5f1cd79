import { Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-local';
import { AuthService, type PublicUser } from './auth.service.js';

/** passport-local: `username` and `password` from the body. */
@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy) {
  constructor(private readonly auth: AuthService) {
    super();
  }

  async validate(username: string, password: string): Promise<PublicUser> {
    const user = await this.auth.validateUser(username, password);
    if (user === null) throw new UnauthorizedException();
    return user;
  }
}
