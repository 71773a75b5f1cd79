/** UTF-8 bytes that `"key":value` and its separator (`,` or a brace) take in a JSON object. */
export function jsonEntryBytes(key: string, value: unknown): number {
  return Buffer.byteLength(JSON.stringify(key)) + Buffer.byteLength(JSON.stringify(value)) + 2;
}

/** UTF-8 bytes of a JSON object whose entries take `entryBytes` in all (`jsonEntryBytes` each). */
export function jsonObjectBytes(entries: number, entryBytes: number): number {
  // `{}` when empty; otherwise each entry brings its separator, and the braces need one more.
  return entries === 0 ? 2 : entryBytes + 1;
}

/**
 * The size of a session's values as JSON, kept per key so that a `set` costs the new value's
 * size, not the whole session's. Nothing is measured until the size is first asked for (only a
 * server-side store with `maxSessionBytes` asks, at the first change of a request); from then
 * on each change adjusts it. Internal.
 */
export class SessionSizeTally {
  /** Bytes per key (`jsonEntryBytes`); `undefined` until measured, and after `forget()`. */
  private perKey: Map<string, number> | undefined;
  private sum = 0;

  /** The entries' bytes of `values`: measured in full the first time, then kept up to date. */
  entryBytes(values: ReadonlyMap<string, unknown>): number {
    if (this.perKey === undefined) {
      const perKey = new Map<string, number>();
      let sum = 0;
      for (const [key, value] of values) {
        const bytes = jsonEntryBytes(key, value);
        perKey.set(key, bytes);
        sum += bytes;
      }
      this.perKey = perKey;
      this.sum = sum;
    }
    return this.sum;
  }

  /** `key` now holds `value`. */
  set(key: string, value: unknown): void {
    const perKey = this.perKey;
    if (perKey === undefined) return;
    const bytes = jsonEntryBytes(key, value);
    this.sum += bytes - (perKey.get(key) ?? 0);
    perKey.set(key, bytes);
  }

  /** `key` was removed. */
  delete(key: string): void {
    const perKey = this.perKey;
    if (perKey === undefined) return;
    this.sum -= perKey.get(key) ?? 0;
    perKey.delete(key);
  }

  /** Every key was removed. */
  clear(): void {
    if (this.perKey === undefined) return;
    this.perKey.clear();
    this.sum = 0;
  }

  /** The values were replaced wholesale (loaded, or started over): measure again when asked. */
  forget(): void {
    this.perKey = undefined;
    this.sum = 0;
  }
}
