import { STATUS_CODES } from 'node:http';
import { type SecurityDeniedException, SecurityRedirectException } from './security.exceptions.js';

/** What a denied GraphQL field carries in its error's `extensions`. */
export interface SecurityDeniedGraphQLExtensions {
  /**
   * `UNAUTHENTICATED` for a 401 (`false`, `deny()`) and for `redirectTo(...)`, `FORBIDDEN` for
   * a 403, otherwise the status text in upper snake case (`TOO_MANY_REQUESTS` for 429).
   */
  code: string;
  /** The HTTP status the denial would have had on an HTTP route (302 for a redirect). */
  status: number;
  /** For `redirectTo(url)`: where an HTTP route would have sent the client, percent-encoded. */
  location?: string;
}

/** The message a redirect reports: in GraphQL it cannot be followed, it means "log in first". */
const REDIRECT_MESSAGE = 'Authentication required; please log in.';

function codeOf(denial: SecurityDeniedException): string {
  const status = denial.getStatus();
  if (denial instanceof SecurityRedirectException || status === 401) return 'UNAUTHENTICATED';
  return (STATUS_CODES[status] ?? 'Error').toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

function messageOf(denial: SecurityDeniedException): string {
  if (denial instanceof SecurityRedirectException) return REDIRECT_MESSAGE;
  const body = denial.body;
  if (typeof body === 'string' && body.trim() !== '') return body;
  if (typeof body === 'object' && !Array.isArray(body) && typeof body.message === 'string') return body.message;
  return denial.message;
}

/**
 * A security denial as a GraphQL resolver reports it. A GraphQL response answers many fields
 * at once, so one field's denial cannot set the response's status, headers or body, nor
 * redirect it: `SecurityDeniedFilter` turns the `SecurityDeniedException` of a resolver into
 * this error, and the GraphQL server reports it in `errors` (with the field `null`) as
 * `{ message, path, extensions: { code, status, location? } }`, on Apollo and Mercurius alike.
 *
 * - `false` and `deny()` without a status: `UNAUTHENTICATED`, "Authentication required; please
 *   log in.".
 * - `deny({ status, body })`: the code of the status (see `extensions.code`); the message is a
 *   string body, or an object body's `message`, or the status text. Its headers are not sent.
 * - `redirectTo(url)`: a redirect cannot be followed inside a GraphQL result, so it reports
 *   `UNAUTHENTICATED` with the target in `extensions.location`, for the client to navigate to.
 *
 * The denial itself is the `cause`; like every denial, it dropped the request's session changes.
 */
export class SecurityDeniedGraphQLError extends Error {
  /** Copied by graphql-js into the reported error's `extensions`. */
  readonly extensions: SecurityDeniedGraphQLExtensions;

  constructor(denial: SecurityDeniedException) {
    super(messageOf(denial), { cause: denial });
    this.name = 'SecurityDeniedGraphQLError';
    const extensions: SecurityDeniedGraphQLExtensions = { code: codeOf(denial), status: denial.getStatus() };
    if (denial instanceof SecurityRedirectException) extensions.location = denial.location;
    this.extensions = extensions;
  }
}
