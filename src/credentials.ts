/** Longest username the demo accepts, in characters (after trimming). */
export const MAX_USERNAME_LENGTH = 64;
/** Longest password the demo accepts, in characters. */
export const MAX_PASSWORD_LENGTH = 256;
/** The tutorial's one password: any username logs in with it. */
export const DEMO_PASSWORD = 'password';

/** What a valid login body carries. */
export interface Credentials {
  username: string;
  password: string;
}

/** The outcome of reading a login body: credentials, or why they are unusable. */
export type CredentialsResult =
  | { ok: true; credentials: Credentials }
  | {
      ok: false;
      message: string;
      /** The username as sent, when it is fit to show in the form again. */
      username?: string;
    };

/**
 * Control characters (C0, DEL, C1) and invisible format characters (zero-width spaces and
 * joiners, bidirectional overrides such as U+202E), which would let one name pass for another
 * on the sessions page, plus line and paragraph separators.
 */
const CONTROL_CHARS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Half of a surrogate pair without its other half: not text (String.isWellFormed, before ES2024). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A field's own value: parsers may build bodies without a prototype, or with odd keys. */
function field(body: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(body, name) ? body[name] : undefined;
}

/** Why `value` is not a usable text field, or `undefined` when it is. */
function textProblem(name: string, value: unknown, maxLength: number): string | undefined {
  if (value === undefined || value === '') return `${name} is required`;
  if (typeof value !== 'string') return `${name} must be a string`;
  // A lone surrogate cannot be encoded as UTF-8 (nor stored in PostgreSQL's jsonb).
  if (LONE_SURROGATE.test(value)) return `${name} must be valid Unicode text`;
  if (value.length > maxLength) return `${name} must be at most ${maxLength} characters`;
  return undefined;
}

/**
 * Reads the credentials from a parsed login body, and only from it: a query string ends up in
 * logs and browser history, so credentials there count as missing. The username is trimmed
 * and put in Unicode normalization form C, and must then be 1 to 64 characters of valid
 * Unicode without control or invisible format characters; the password up to 256 characters
 * of valid Unicode.
 */
export function readCredentials(body: unknown): CredentialsResult {
  if (!isRecord(body)) return { ok: false, message: 'username is required' };
  const rawUsername = field(body, 'username');
  // One spelling per name: "é" typed precomposed or as e + accent is the same user.
  const username = typeof rawUsername === 'string' ? rawUsername.trim().normalize('NFC') : rawUsername;
  const usernameProblem = textProblem('username', username, MAX_USERNAME_LENGTH);
  if (usernameProblem !== undefined) return { ok: false, message: usernameProblem };
  const name = username as string;
  if (CONTROL_CHARS.test(name)) return { ok: false, message: 'username must not contain control characters' };
  const password = field(body, 'password');
  const passwordProblem = textProblem('password', password, MAX_PASSWORD_LENGTH);
  if (passwordProblem !== undefined) return { ok: false, message: passwordProblem, username: name };
  return { ok: true, credentials: { username: name, password: password as string } };
}
