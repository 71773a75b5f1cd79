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
 * The size of a session's values as JSON, kept up to date so that a `set` costs the size of the
 * value it replaces and of the new one, not the whole session's. Nothing is measured until the
 * size is first asked for (only a server-side store with `maxSessionBytes` asks, at the first
 * change of a request); that first measure is one `JSON.stringify` of the values. Internal.
 */
export class SessionSizeTally {
  /** `jsonEntryBytes` of the keys set since the measure; others are measured when replaced. */
  private readonly known = new Map<string, number>();
  /** The entries' bytes; `undefined` until measured, and after `forget()`. */
  private sum: number | undefined;

  /** The entries' bytes of `values`: measured in full the first time, then kept up to date. */
  entryBytes(values: ReadonlyMap<string, unknown>): number {
    if (this.sum === undefined) {
      // Object.fromEntries defines properties, so a key named __proto__ is counted like any other.
      const bytes = Buffer.byteLength(JSON.stringify(Object.fromEntries(values)));
      this.sum = values.size === 0 ? 0 : bytes - 1;
    }
    return this.sum;
  }

  /** `key` now holds `value`; before, it held `previous` if `had`. */
  set(key: string, value: unknown, had: boolean, previous: unknown): void {
    if (this.sum === undefined) return;
    const bytes = jsonEntryBytes(key, value);
    this.sum += bytes - this.bytesOf(key, had, previous);
    this.known.set(key, bytes);
  }

  /** `key` was removed; it held `previous` if `had`. */
  delete(key: string, had: boolean, previous: unknown): void {
    if (this.sum === undefined) return;
    this.sum -= this.bytesOf(key, had, previous);
    this.known.delete(key);
  }

  /** Every key was removed. */
  clear(): void {
    if (this.sum === undefined) return;
    this.known.clear();
    this.sum = 0;
  }

  /** The values were replaced wholesale (loaded, or started over): measure again when asked. */
  forget(): void {
    this.known.clear();
    this.sum = undefined;
  }

  /**
   * The values were loaded from a record of `entries` keys that the store reported as
   * `jsonBytes` of JSON (`StoredSession.jsonBytes`): no measure needed. Without a report,
   * as `forget()`.
   */
  loaded(entries: number, jsonBytes: number | undefined): void {
    this.known.clear();
    this.sum = jsonBytes === undefined ? undefined : entries === 0 ? 0 : jsonBytes - 1;
  }

  private bytesOf(key: string, had: boolean, value: unknown): number {
    if (!had) return 0;
    return this.known.get(key) ?? jsonEntryBytes(key, value);
  }
}
