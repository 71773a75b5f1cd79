import type { Response } from 'supertest';

/** The Set-Cookie lines of a response (always an array). */
export function setCookies(response: Response): string[] {
  const header = response.headers['set-cookie'] as string[] | string | undefined;
  if (header === undefined) return [];
  return Array.isArray(header) ? header : [header];
}

/** The Set-Cookie line for `name`, or undefined. */
export function setCookieFor(response: Response, name = 'session_id'): string | undefined {
  return setCookies(response).find((line) => line.startsWith(`${name}=`));
}

/** The value the response sets for cookie `name`, or undefined. */
export function cookieValue(response: Response, name = 'session_id'): string | undefined {
  const line = setCookieFor(response, name);
  return line?.slice(name.length + 1).split(';')[0];
}
