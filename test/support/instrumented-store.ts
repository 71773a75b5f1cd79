import { MemoryStore, SessionStore, type SessionWrite, type StoredSession } from '@novanest/session';

type Operation = 'get' | 'write' | 'touch' | 'destroy';

/**
 * A real MemoryStore behind a thin wrapper that counts calls, can be slowed down (to catch a
 * response that leaves before its commit) and can be taken down (to see how outages surface).
 */
export class InstrumentedStore extends SessionStore {
  readonly inner = new MemoryStore();
  readonly calls: Operation[] = [];
  /** Delay in ms added before every write, to widen races. */
  writeDelay = 0;
  /** While true, every call fails as a real client would when the server is gone. */
  down = false;

  get size(): number {
    return this.inner.size;
  }

  count(operation?: Operation): number {
    return operation === undefined ? this.calls.length : this.calls.filter((c) => c === operation).length;
  }

  reset(): void {
    this.calls.length = 0;
  }

  async get(key: string): Promise<StoredSession | undefined> {
    this.enter('get');
    return this.inner.get(key);
  }

  async write(key: string, change: SessionWrite): Promise<boolean> {
    this.enter('write');
    if (this.writeDelay > 0) await new Promise((resolve) => setTimeout(resolve, this.writeDelay));
    return this.inner.write(key, change);
  }

  async touch(key: string, ttl: number): Promise<boolean> {
    this.enter('touch');
    return this.inner.touch(key, ttl);
  }

  async destroy(key: string): Promise<boolean> {
    this.enter('destroy');
    return this.inner.destroy(key);
  }

  private enter(operation: Operation): void {
    this.calls.push(operation);
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
  }
}
