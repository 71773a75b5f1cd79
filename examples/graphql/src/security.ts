import { Injectable } from '@nestjs/common';
import { type SecurityCheck, type SecurityContext, type SecurityFn } from '@novanest/session';
import { type PublicUser, UsersService } from './users.service.js';
import './session-data.js';

/**
 * The `login` mutation's check. In a resolver, `params` are the field's arguments. A wrong
 * password is `false`: the mutation answers a GraphQL error with code `UNAUTHENTICATED`.
 */
@Injectable()
export class PasswordLogin implements SecurityCheck {
  constructor(private readonly users: UsersService) {}

  check({ params }: SecurityContext): PublicUser | false {
    const { username, password } = params;
    if (typeof username !== 'string' || typeof password !== 'string') return false;
    return this.users.validate(username, password) ?? false;
  }
}

/** Fields for logged-in sessions: passes with the username; anyone else gets `UNAUTHENTICATED`. */
export const loggedIn: SecurityFn = async ({ session }) => {
  const username = await session.get('username');
  return username === undefined ? false : { username };
};
