import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';

/** A user as the API shows it: never the password. (A type, so it can be auth data.) */
export type PublicUser = {
  username: string;
  name: string;
};

type StoredUser = PublicUser & { password: string };

/** The example's users. A real app keeps password hashes in a database. */
const USERS: readonly StoredUser[] = [
  { username: 'john', name: 'John', password: 'changeme' },
  { username: 'maria', name: 'Maria', password: 'guess' },
];

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

@Injectable()
export class UsersService {
  /** The user whose password this is, or `undefined`. */
  validate(username: string, password: string): PublicUser | undefined {
    const user = USERS.find((candidate) => candidate.username === username);
    if (user === undefined || !sameText(user.password, password)) return undefined;
    return { username: user.username, name: user.name };
  }

  /** The user with this name, or `undefined` (a session can outlive its user). */
  find(username: string): PublicUser | undefined {
    const user = USERS.find((candidate) => candidate.username === username);
    return user === undefined ? undefined : { username: user.username, name: user.name };
  }
}
