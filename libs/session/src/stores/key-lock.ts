/**
 * Runs work one at a time per key, within this process. The adapters for stores that cannot
 * change one key of a session atomically (read-modify-write over a plain key/value backend)
 * use it so that concurrent requests on one node never lose each other's writes. Internal.
 */
export class KeyLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      // Last in line: nothing waits on this key any more.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
