import { Injectable } from '@nestjs/common';

/** A user as the example keeps it. A real app keeps a password hash, never the password. */
export interface User {
  userId: number;
  username: string;
  password: string;
}

/** The Nest docs' users: an in-memory list. */
@Injectable()
export class UsersService {
  private readonly users: User[] = [
    { userId: 1, username: 'john', password: 'changeme' },
    { userId: 2, username: 'maria', password: 'guess' },
  ];

  async findOne(username: string): Promise<User | undefined> {
    return this.users.find((user) => user.username === username);
  }
}
