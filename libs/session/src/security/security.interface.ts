import type { Session } from '../session/session.interface.js';
import type { SecurityDeniedException } from './security.exceptions.js';

/**
 * Nova's `params` for a security function: the route's query, body and path parameters merged
 * into one object without a prototype. Path parameters win over body fields, body fields over
 * query fields (Phoenix's order). Only a plain-object body contributes; keys that could reach a
 * prototype (`__proto__`, `constructor`, `prototype`) are dropped. Values are whatever the
 * platform parsed (strings, arrays, objects): check their types before use. In a GraphQL
 * resolver, `params` are the field's arguments instead (the same copy, without a prototype).
 */
export type SecurityParams = Readonly<Record<string, unknown>>;

/** What a security function is given: the request, its session and Nova's merged `params`. */
export interface SecurityContext<TRequest = unknown> {
  /** The platform's request object (Express `Request` or Fastify `FastifyRequest`), in a GraphQL resolver too. */
  readonly request: TRequest;
  /** The request's session: the same handle `@Session()` gives the route handler. */
  readonly session: Session;
  /** Path parameters, query and body merged (see `SecurityParams`). */
  readonly params: SecurityParams;
}

/** Auth data a security function hands to the route (read there with `@AuthData()`). */
export type AuthDataObject = Record<string, unknown>;

/**
 * What a security function may return (or resolve to), after Nova:
 * - `true`: pass;
 * - a plain object: pass, and the object becomes the auth data (`@AuthData()`); but one whose
 *   `authed` is `false` is a 401 like `false` (logged once per route);
 * - `false`: 401 (`SessionUnauthorizedException`);
 * - `deny({ status, headers, body })`: that response (a `SecurityDeniedException`);
 * - `redirectTo(url)`: a 302 to `url` (a `SecurityRedirectException`, a kind of the former).
 *
 * `deny(...)` and `redirectTo(...)` may also be thrown, with the same effect.
 *
 * Anything else (`undefined`, a string, an array, a class instance...) is treated as a denial
 * (401) and logged: security code fails closed.
 */
export type SecurityResult = boolean | AuthDataObject | SecurityDeniedException;

/** A security function (Nova's `security => fun`). It may be async. */
export type SecurityFn<TRequest = unknown> = (context: SecurityContext<TRequest>) => SecurityResult | Promise<SecurityResult>;

/**
 * A security check as an injectable class, for checks that need services (a users repository,
 * a config). Decorate it with `@Injectable()`; the guard takes it from Nest's container (or
 * creates it there with its dependencies injected when no module provides it).
 *
 * ```ts
 * @Injectable()
 * export class ApiKeySecurity implements SecurityCheck {
 *   constructor(private readonly keys: ApiKeysService) {}
 *   async check({ request }: SecurityContext<Request>) {
 *     const owner = await this.keys.ownerOf(request.headers['x-api-key']);
 *     return owner ? { owner } : false;
 *   }
 * }
 * ```
 */
export interface SecurityCheck<TRequest = unknown> {
  check(context: SecurityContext<TRequest>): SecurityResult | Promise<SecurityResult>;
}

/** A class whose instances are `SecurityCheck`s. */
export type SecurityCheckType = abstract new (...args: never[]) => SecurityCheck;

/** What `@Security()` accepts: a function, an injectable check class, or `false` (public). */
export type SecuritySetting = SecurityFn | SecurityCheckType | false;
