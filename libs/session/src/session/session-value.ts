import { SessionValueError } from '../session.exceptions.js';

const JSON_KINDS = 'objects, arrays, strings, finite numbers, booleans and null';

function refuse(path: string, what: string, hint = ''): never {
  throw new SessionValueError(`session value ${path} is ${what}; only JSON values (${JSON_KINDS}) can be stored${hint}`);
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Text every store can hold: no U+0000 (PostgreSQL's jsonb refuses it) and no unpaired
 * surrogate (not valid Unicode, so not valid UTF-8 on the wire). Refused everywhere alike.
 */
function assertStorableText(text: string, where: string): void {
  const problem = text.includes('\u0000') ? 'U+0000' : LONE_SURROGATE.test(text) ? 'an unpaired surrogate' : undefined;
  if (problem === undefined) return;
  throw new SessionValueError(`session value ${where} contains ${problem}; session text must be valid Unicode without U+0000`);
}

function describe(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name !== 'string' || name === '') return 'an object with a custom prototype';
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}

/**
 * A plain object: a literal, a `JSON.parse` result or `Object.create(null)`, not an array and
 * not a class instance. The one test for "a record of JSON fields" in the library. Internal.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Sets a property without invoking the `__proto__` setter: a key is only ever data. */
function defineValue(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function cloneAt(value: unknown, path: string, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
      assertStorableText(value, path);
      return value;
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, String(value));
      return value;
    case 'undefined':
      return refuse(path, 'undefined', ' (use session.delete(key) to remove a key)');
    case 'bigint':
      return refuse(path, 'a BigInt', ' (store it as a string)');
    case 'function':
      return refuse(path, 'a function');
    case 'symbol':
      return refuse(path, 'a symbol');
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) refuse(path, 'a cyclic reference');
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      const copy: unknown[] = new Array(object.length);
      for (let i = 0; i < object.length; i++) copy[i] = cloneAt(object[i], `${path}[${i}]`, ancestors);
      return copy;
    }
    if (!isPlainObject(object)) {
      const hint = object instanceof Date ? ' (store date.toISOString() instead)' : '';
      refuse(path, describe(object), hint);
    }
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(object)) {
      assertStorableText(key, `${path} (a key)`);
      const field = (object as Record<string, unknown>)[key];
      // JSON drops undefined properties; reading them back gives undefined either way.
      if (field === undefined) continue;
      defineValue(copy, key, cloneAt(field, `${path}.${key}`, ancestors));
    }
    return copy;
  } finally {
    ancestors.delete(object);
  }
}

/**
 * A detached deep copy of `value` that survives a JSON round trip unchanged. Anything that
 * would not (functions, BigInt, symbols, NaN, Infinity, cycles, Dates, class instances, Maps)
 * is refused with a `SessionValueError` naming where it sits.
 */
export function cloneSessionValue(key: string, value: unknown): unknown {
  return cloneAt(value, JSON.stringify(key), new Set());
}

/**
 * A deep copy of a value that is already known to be JSON (validated at `set`, or parsed from
 * a store). Handed out by `get` and `all`, so that changing what they return changes nothing
 * until it is `set` again.
 */
export function copyJsonValue<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJsonValue) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    defineValue(copy, key, copyJsonValue((value as Record<string, unknown>)[key]));
  }
  return copy as T;
}

/** Session keys are non-empty strings. */
export function assertSessionKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new SessionValueError(`session keys must be non-empty strings, got ${typeof key === 'string' ? '""' : typeof key}`);
  }
  if (key.includes('\u0000') || LONE_SURROGATE.test(key)) {
    throw new SessionValueError('session keys must be valid Unicode without U+0000');
  }
}

/** Parses stored JSON; keys named `__proto__` stay plain data (JSON.parse defines, never sets). */
export function parseStoredValue(json: string): unknown {
  return JSON.parse(json);
}
