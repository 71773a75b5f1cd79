import type { SecurityFn } from '@novanest/session';
import './session-data.js';

/** Signed in when the session holds a username; the auth data carries it to the handler. */
export const signedIn: SecurityFn = async ({ session }) => {
  const username = await session.get('username');
  return username ? { username } : false;
};
