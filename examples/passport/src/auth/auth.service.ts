import { Injectable } from '@nestjs/common';
import { type User, UsersService } from '../users/users.service.js';

/** The user without the password: what the session and the responses carry. */
export type PublicUser = Omit<User, 'password'>;

@Injectable()
export class AuthService {
  constructor(private readonly users: UsersService) {}

  /** The user when the password matches, otherwise `null`. */
  async validateUser(username: string, password: string): Promise<PublicUser | null> {
    const user = await this.users.findOne(username);
    if (user === undefined || user.password !== password) return null;
    const { password: _password, ...rest } = user;
    return rest;
  }
}
