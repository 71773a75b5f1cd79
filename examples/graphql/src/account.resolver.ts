import { NotFoundException, UseGuards } from '@nestjs/common';
import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { AuthData, Security, Session, SessionAuthGuard } from '@novanest/session';
import { PasswordLogin, loggedIn } from './security.js';
import { User } from './user.model.js';
import { type PublicUser, UsersService } from './users.service.js';

/**
 * Log in, ask who you are, log out: the session's cookie carries the login from one GraphQL
 * request to the next. Every field is secured by `loggedIn` unless it says otherwise.
 */
@Resolver(() => User)
@UseGuards(SessionAuthGuard)
@Security(loggedIn)
export class AccountResolver {
  constructor(private readonly users: UsersService) {}

  @Mutation(() => User, { description: 'Logs in: a new session id (no fixation) that remembers the user.' })
  @Security(PasswordLogin)
  async login(
    @Args('username') _username: string,
    @Args('password') _password: string,
    @AuthData() user: PublicUser,
    @Session() session: Session,
  ): Promise<User> {
    await session.regenerate();
    const loggedInAt = new Date().toISOString();
    await session.set('username', user.username);
    await session.set('loggedInAt', loggedInAt);
    return { ...user, loggedInAt };
  }

  @Query(() => User, { description: 'The logged-in user; UNAUTHENTICATED without a session.' })
  async me(@AuthData('username') username: string, @Session() session: Session): Promise<User> {
    const user = this.users.find(username);
    if (user === undefined) throw new NotFoundException('This user no longer exists');
    return { ...user, loggedInAt: (await session.get('loggedInAt')) ?? '' };
  }

  @Mutation(() => Boolean, { description: 'Ends the session: the record is removed and the cookie expired.' })
  async logout(@Session() session: Session): Promise<boolean> {
    await session.destroy();
    return true;
  }
}
