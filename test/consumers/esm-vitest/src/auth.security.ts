import type { SecurityFn } from '@novanest/session';

/** Login: any username with the password `password`; anything else is a 401. */
export const usernamePassword: SecurityFn = ({ params }) =>
  typeof params.username === 'string' && params.password === 'password'
    ? { username: params.username }
    : false;

/** A logged-in session passes with its username; anyone else gets a 401. */
export const sessionAuth: SecurityFn = async ({ session }) => {
  const username = await session.get('username');
  return username === undefined ? false : { username };
};
