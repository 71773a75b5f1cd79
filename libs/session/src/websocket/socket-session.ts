import type { SessionHandle } from '../session/session.handle.js';
import type { Session, SessionData, SessionKey, SessionValue } from '../session/session.interface.js';
import type { SessionUpdateOptions } from '../session/session-update.js';
import type { UserSessionMetadata } from '../users/user-sessions.js';
import { WsSessionError } from './ws-session.exceptions.js';

/**
 * The session of a socket, for one message (or one `handleConnection`): a fresh handle built
 * from the handshake's cookie, so it reads the session as the store holds it now. No response
 * follows a message, so nothing is committed for you:
 *
 * - changes are written by `await session.save()`; changes left unsaved are dropped;
 * - `save()` with nothing staged extends the idle timeout when that is due (reads alone do not);
 * - a change needs a session that exists in the store (a new one would need a cookie);
 * - `regenerate()` needs a new cookie and always throws `WsSessionError`;
 * - `destroy()` (and `drop()`) removes the record from the store at once: the browser keeps
 *   its cookie, which then names no session (its next request starts a fresh one, and this
 *   socket's next message sees none);
 * - with `CookieStore` the session lives in the browser's cookie: a socket reads it as the
 *   handshake brought it and every change throws `WsSessionError`.
 *
 * A save that finds the session destroyed meanwhile (a logout over HTTP) writes nothing and
 * throws `WsSessionError`: logout wins. Internal: users see the `Session` interface.
 */
export class SocketSession implements Session {
  /** This socket destroyed the session (or found it destroyed at save): nothing more to change. */
  private ended = false;

  constructor(
    private readonly handle: SessionHandle,
    /** The record lives in the cookie (`CookieStore`), which a socket cannot replace. */
    private readonly sealed: boolean,
  ) {}

  get id(): string {
    return this.handle.id;
  }

  get isNew(): boolean {
    return this.handle.isNew;
  }

  get userId(): string | undefined {
    return this.handle.userId;
  }

  load(): Promise<void> {
    return this.handle.load();
  }

  /** Binds the user on a session the store holds; written by `save()` like any change. */
  async bindUser(userId: string, metadata?: UserSessionMetadata): Promise<void> {
    await this.assertWritable('bindUser');
    await this.handle.bindUser(userId, metadata);
  }

  get<K extends keyof SessionData & string>(key: K): Promise<SessionData[K] | undefined>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  get(key: string): Promise<unknown> {
    return this.handle.get(key);
  }

  all(): Promise<Partial<SessionData> & Record<string, unknown>> {
    return this.handle.all();
  }

  getFlash<T = unknown>(key: string): Promise<T | undefined> {
    return this.handle.getFlash<T>(key);
  }

  async set<K extends string>(key: K, value: SessionValue<K>): Promise<void> {
    await this.assertWritable('set');
    await this.handle.set(key, value);
  }

  async flash(key: string, value: unknown): Promise<void> {
    await this.assertWritable('flash');
    await this.handle.flash(key, value);
  }

  update<K extends SessionKey>(
    key: K,
    fn: (current: SessionData[K] | undefined) => SessionData[K],
    options?: SessionUpdateOptions,
  ): Promise<SessionData[K] | undefined>;
  update<T = unknown>(key: string, fn: (current: T | undefined) => T, options?: SessionUpdateOptions): Promise<T | undefined>;
  /**
   * Atomic and written at once, as over HTTP (no `save()` needed), unless this message staged
   * a change of the key first. A session destroyed meanwhile throws `WsSessionError`.
   */
  update(key: string, fn: (current: unknown) => unknown, options?: SessionUpdateOptions): Promise<unknown> {
    return this.writtenAtOnce('update', () => this.handle.update(key, fn, options));
  }

  increment(key: string, by = 1): Promise<number | undefined> {
    return this.writtenAtOnce('increment', () => this.handle.increment(key, by));
  }

  /** Runs an atomic update; a session the store found gone ends this socket's session. */
  private async writtenAtOnce<T>(operation: string, work: () => Promise<T>): Promise<T> {
    await this.assertWritable(operation);
    const id = this.handle.id;
    const value = await work();
    // The handle starts over under a new id only when the store found the record gone.
    if (this.handle.id !== id) {
      this.ended = true;
      throw new WsSessionError(
        `the session ended before this ${operation}() was written (destroyed, e.g. by a logout over HTTP, or expired); nothing was written`,
      );
    }
    return value;
  }

  async delete(key: string): Promise<void> {
    // Removing from a session that does not exist changes nothing, so it is not an error.
    if (await this.isAbsent('delete')) return;
    await this.handle.delete(key);
  }

  async clear(): Promise<void> {
    if (await this.isAbsent('clear')) return;
    await this.handle.clear();
  }

  ignoreChanges(): void {
    this.handle.ignoreChanges();
  }

  async save(): Promise<void> {
    if (this.ended) return;
    const id = this.handle.id;
    await this.handle.save();
    // The handle starts over under a new id only when its update found the record gone.
    if (this.handle.id !== id) {
      this.ended = true;
      throw new WsSessionError(
        'the session ended before this change was saved (destroyed, e.g. by a logout over HTTP, or expired); nothing was written',
      );
    }
  }

  async regenerate(): Promise<void> {
    throw new WsSessionError(
      'regenerate() needs a new session cookie, which a socket cannot send; regenerate over HTTP (e.g. at login) and reconnect',
    );
  }

  async destroy(): Promise<void> {
    if (this.sealed) {
      throw new WsSessionError(
        "destroy() cannot end a CookieStore session from a socket: the session is the browser's cookie, which only an HTTP " +
          'response can expire; log out over HTTP',
      );
    }
    if (this.ended) return;
    await this.handle.destroy();
    await this.handle.save();
    this.ended = true;
  }

  drop(): Promise<void> {
    return this.destroy();
  }

  /** Throws unless `operation` can be written: a store record exists and the socket can change it. */
  private async assertWritable(operation: string): Promise<void> {
    if (await this.isAbsent(operation)) {
      throw new WsSessionError(
        `${operation}() on a socket needs a session the store holds, and this socket's cookie names none (never written, ` +
          'logged out or expired); a new session needs a cookie, which only an HTTP response can send: start it over HTTP ' +
          '(e.g. log in) and reconnect',
      );
    }
  }

  /** Whether no record backs this socket's session; throws for changes a socket can never make. */
  private async isAbsent(operation: string): Promise<boolean> {
    if (this.sealed) {
      throw new WsSessionError(
        `${operation}() cannot change a CookieStore session from a socket: the session is the browser's cookie, which only ` +
          'an HTTP response can replace; make the change over HTTP',
      );
    }
    if (this.ended) return true;
    await this.handle.load();
    return this.handle.isNew;
  }
}
