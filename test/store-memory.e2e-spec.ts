import { MemoryStore, SessionStore, type SessionWrite } from '@novanest/session';
import { runStoreContract } from './support/store-contract.js';

/** Another app over the same MemoryStore; closing that app must not clear the shared store. */
class SharedMemory extends SessionStore {
  constructor(private readonly inner: MemoryStore) {
    super();
  }
  get(key: string) {
    return this.inner.get(key);
  }
  write(key: string, change: SessionWrite) {
    return this.inner.write(key, change);
  }
  touch(key: string, ttl: number) {
    return this.inner.touch(key, ttl);
  }
  destroy(key: string) {
    return this.inner.destroy(key);
  }
  override compareAndSet(key: string, field: string, expected: unknown, next: unknown, ttl: number) {
    return this.inner.compareAndSet(key, field, expected, next, ttl);
  }

  override listByUser(userId: string) {
    return this.inner.listByUser(userId);
  }
}

runStoreContract({
  name: 'memory',
  perKeyAcrossNodes: true,
  httpTimeouts: true,
  userIndex: true,
  async create() {
    const store = new MemoryStore();
    return {
      store,
      sibling: async () => new SharedMemory(store),
      close: async () => store.onApplicationShutdown(),
    };
  },
});
