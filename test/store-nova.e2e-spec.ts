import { type NovaStoreBackend, fromNovaStore } from '@novanest/session';
import { runStoreContract } from './support/store-contract.js';

/**
 * A custom store written to Nova's four functions only: a Map of sessions, each a Map of JSON
 * text, answering asynchronously like a networked backend would, and able to go "down".
 */
class MapBackend implements NovaStoreBackend {
  readonly sessions = new Map<string, Map<string, string>>();
  down = false;

  async getValue(id: string, key: string): Promise<unknown> {
    await this.roundTrip();
    const json = this.sessions.get(id)?.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  async setValue(id: string, key: string, value: unknown): Promise<void> {
    await this.roundTrip();
    let session = this.sessions.get(id);
    if (session === undefined) {
      session = new Map();
      this.sessions.set(id, session);
    }
    session.set(key, JSON.stringify(value));
  }

  async deleteValue(id: string, key?: string): Promise<void> {
    await this.roundTrip();
    if (key === undefined) this.sessions.delete(id);
    else this.sessions.get(id)?.delete(key);
  }

  private async roundTrip(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.down) throw new Error('backend unreachable');
  }
}

runStoreContract({
  name: 'nova-style custom',
  perKeyAcrossNodes: false,
  async create() {
    const backend = new MapBackend();
    return {
      store: fromNovaStore(backend),
      outage: {
        down: async () => {
          backend.down = true;
        },
        up: async () => {
          backend.down = false;
        },
      },
      sibling: async () => fromNovaStore(backend),
      close: async () => backend.sessions.clear(),
    };
  },
});
