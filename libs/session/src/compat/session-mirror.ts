import type { Logger } from '@nestjs/common';
import { CSRF_SECRET_KEY, FLASH_KEY, type SessionHandle } from '../session/session.handle.js';
import { USER_BINDING_KEY } from '../stores/session.store.js';

/**
 * A loaded session's data as plain, synchronously readable properties of `data`, for code
 * written against express-session (Passport, connect-flash, csrf-sync) and @fastify/session.
 *
 * Such code changes the data in place, nested objects included (Passport writes
 * `req.session.passport.user` and deletes it again; connect-flash pushes onto arrays in
 * `req.session.flash`), so no setter can see every change. Instead the mirror remembers each
 * key's JSON as loaded (or as last staged) and, just before the handle commits or saves,
 * stages exactly the keys whose JSON differs, and removes the keys that are gone. Unchanged
 * keys are never written, so concurrent requests that change different keys keep each other's
 * writes, and "logout wins" holds as for any other change. Internal.
 */
export class SessionMirror {
  /** Each key's JSON as loaded, or as last staged. */
  private readonly saved = new Map<string, string>();
  /** Replaced by a newer mirror (after `regenerate`) or ended (`destroy`): stages nothing. */
  private detached = false;
  /**
   * A key that cannot be saved fails the commit (nothing is written, and the response is an
   * error rather than a success that did not persist); each such key is logged.
   */
  private readonly hook = (): void => {
    const errors = this.sync();
    for (const error of errors) this.logger.error(error.message);
    if (errors.length > 0) throw errors[0];
  };
  /** Follows the handle when the request's own code renews, clears or ends the session. */
  private readonly follow = (phase: 'renewing' | 'renewed' | 'ended'): void => {
    if (this.detached) return;
    if (phase === 'renewing') {
      // What changed through this object so far is the old session's: staged now, `keep` then
      // decides whether it moves along.
      const errors = this.sync();
      if (errors.length > 0) throw errors[0];
    } else if (phase === 'renewed') {
      this.refill(this.handle.valuesNow());
    } else {
      this.detach();
      this.refill({});
    }
  };

  constructor(
    readonly handle: SessionHandle,
    /** The object whose own enumerable properties are the session's data. */
    readonly data: Record<string, unknown>,
    /** Names the facade uses for its own API; never taken for data. */
    private readonly reserved: ReadonlySet<string>,
    private readonly logger: Logger,
  ) {
    handle.beforeCommit = this.hook;
    handle.onStartOver = this.follow;
  }

  /** Fills `data` with the session's values (the handle must be loaded: no store call here). */
  async fill(): Promise<void> {
    this.refill(await this.handle.all());
  }

  /** Makes `data` the given values, and them the baseline that later changes are compared with. */
  private refill(values: Record<string, unknown>): void {
    for (const key of Object.keys(this.data)) delete this.data[key];
    this.saved.clear();
    for (const [key, value] of Object.entries(values)) {
      if (this.reserved.has(key)) continue;
      // Defined, not assigned: a key named __proto__ stays plain data.
      Object.defineProperty(this.data, key, { value, writable: true, enumerable: true, configurable: true });
      this.saved.set(key, JSON.stringify(value));
    }
  }

  /**
   * Stages every key whose value changed since it was loaded or last staged. Returns the
   * errors of the keys it could not stage (a value JSON cannot carry, a session over its size
   * limit); the commit hook then fails the commit.
   */
  sync(): Error[] {
    if (this.detached) return [];
    const errors: Error[] = [];
    for (const key of Object.keys(this.data)) {
      if (this.reserved.has(key)) continue;
      const value = this.data[key];
      let json: string | undefined;
      try {
        json = value === undefined ? undefined : JSON.stringify(value);
      } catch {
        json = '\u0000unserialisable';
      }
      if (json !== this.saved.get(key)) this.stage(key, value, json, errors);
    }
    for (const key of [...this.saved.keys()]) {
      if (!Object.hasOwn(this.data, key)) this.stage(key, undefined, undefined, errors);
    }
    return errors;
  }

  /** This mirror's object no longer stands for the session: later changes to it are not saved. */
  detach(): void {
    this.detached = true;
    if (this.handle.beforeCommit === this.hook) this.handle.beforeCommit = undefined;
    if (this.handle.onStartOver === this.follow) this.handle.onStartOver = undefined;
  }

  private stage(key: string, value: unknown, json: string | undefined, errors: Error[]): void {
    try {
      this.handle.stageNow(key, value);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      errors.push(new Error(`session key ${JSON.stringify(key)} was not saved: ${reason}`, { cause: error }));
      return;
    }
    if (json === undefined) this.saved.delete(key);
    else this.saved.set(key, json);
  }
}

/**
 * Keys the session itself keeps under its own management (flash messages, the CSRF secret, the
 * user binding); a mirror never shows or takes them.
 */
export const MIRROR_HIDDEN_KEYS: readonly string[] = [FLASH_KEY, CSRF_SECRET_KEY, USER_BINDING_KEY];
