/**
 * Whether two JSON values are equal as JSON: the same primitives, arrays element by element,
 * objects with the same own keys in any order. `undefined` (an absent key) equals only itself.
 * What `compareAndSet` means by "holds `expected`" in the stores that compare values rather
 * than text (PostgreSQL's jsonb equality is the same relation). Internal.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (Array.isArray(b)) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  return keys.every((key) => Object.hasOwn(right, key) && jsonEqual(left[key], right[key]));
}
