import session from 'express-session';
import { type ExpressSessionStoreLike, fromExpressSessionStore } from '@novanest/session';
import { runStoreContract } from './support/store-contract.js';

/** express-session's own MemoryStore, behind a switch that makes every call fail like a lost connection. */
function switchable(inner: session.MemoryStore): ExpressSessionStoreLike & { down: boolean } {
  const failing = (callback?: (error?: unknown) => void): boolean => {
    if (!wrapper.down) return false;
    setImmediate(() => callback?.(new Error('connection lost')));
    return true;
  };
  const wrapper = {
    down: false,
    get: (sid: string, callback: (error: unknown, value?: object | null) => void) => {
      if (!failing(callback)) inner.get(sid, callback);
    },
    set: (sid: string, value: object, callback?: (error?: unknown) => void) => {
      if (!failing(callback)) inner.set(sid, value as session.SessionData, callback);
    },
    destroy: (sid: string, callback?: (error?: unknown) => void) => {
      if (!failing(callback)) inner.destroy(sid, callback);
    },
    touch: (sid: string, value: object, callback?: (error?: unknown) => void) => {
      if (!failing(callback)) inner.touch(sid, value as session.SessionData, () => callback?.());
    },
  };
  return wrapper;
}

runStoreContract({
  name: 'express-session (wrapped MemoryStore)',
  perKeyAcrossNodes: false,
  async create() {
    const shared = new session.MemoryStore();
    const store = switchable(shared);
    return {
      store: fromExpressSessionStore(store),
      outage: {
        down: async () => {
          store.down = true;
        },
        up: async () => {
          store.down = false;
        },
      },
      sibling: async () => fromExpressSessionStore(switchable(shared)),
      close: async () => shared.clear?.(),
    };
  },
});
