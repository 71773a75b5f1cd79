import { SessionValueError } from '../session.exceptions.js';
import { assertSessionKey, cloneSessionValue, parseStoredValue } from './session-value.js';

function refusal(key: string, value: unknown): SessionValueError {
  try {
    cloneSessionValue(key, value);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionValueError);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).name).toBe('SessionValueError');
    return error as SessionValueError;
  }
  throw new Error('expected cloneSessionValue to refuse the value');
}

afterEach(() => {
  // Belt and braces: a failing pollution test must not leak into the next one.
  delete (Object.prototype as Record<string, unknown>).polluted;
  delete (Object.prototype as Record<string, unknown>).x;
});

describe('cloneSessionValue: JSON values', () => {
  it.each([
    ['a string', 'hello'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a negative float', -1.5],
    ['zero', 0],
    ['true', true],
    ['false', false],
    ['null', null],
    ['an empty object', {}],
    ['an empty array', []],
    ['a nested value', { user: { name: 'ada', roles: ['admin', 'dev'], age: 36, active: true, nick: null } }],
    ['an array of objects', [{ a: 1 }, { b: [2, 3] }, [[[]]]]],
    ['unicode text', { clé: 'välue ✓ 😀' }],
  ])('accepts %s and gives back an equal value', (_label, value) => {
    const copy = cloneSessionValue('k', value);
    expect(copy).toEqual(value);
    // It survives a JSON round trip unchanged, which is what a store does to it.
    expect(JSON.parse(JSON.stringify(copy))).toEqual(value);
  });

  it('returns a deep copy: mutating the original afterwards does not change the copy', () => {
    const original = { cart: { items: [{ sku: 'a', qty: 1 }], total: 10 }, tags: ['x'] };
    const copy = cloneSessionValue('k', original) as typeof original;
    expect(copy).not.toBe(original);
    expect(copy.cart).not.toBe(original.cart);
    expect(copy.cart.items).not.toBe(original.cart.items);
    expect(copy.cart.items[0]).not.toBe(original.cart.items[0]);

    original.cart.items[0].qty = 99;
    original.cart.items.push({ sku: 'b', qty: 2 });
    original.cart.total = 0;
    original.tags.length = 0;

    expect(copy).toEqual({ cart: { items: [{ sku: 'a', qty: 1 }], total: 10 }, tags: ['x'] });
  });

  it('mutating the copy does not change the original', () => {
    const original = { list: [1, 2] };
    const copy = cloneSessionValue('k', original) as typeof original;
    copy.list.push(3);
    expect(original.list).toEqual([1, 2]);
  });

  it('accepts the same object twice when it is shared but not cyclic', () => {
    const shared = { n: 1 };
    const copy = cloneSessionValue('k', { a: shared, b: shared, c: [shared, shared] }) as Record<string, unknown>;
    expect(copy).toEqual({ a: { n: 1 }, b: { n: 1 }, c: [{ n: 1 }, { n: 1 }] });
  });

  it('accepts an object with a null prototype and returns a plain object', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    const copy = cloneSessionValue('k', bare);
    expect(copy).toEqual({ a: 1 });
  });

  it('drops object properties whose value is undefined, as JSON does', () => {
    const copy = cloneSessionValue('k', { a: 1, b: undefined }) as Record<string, unknown>;
    expect(copy).toEqual({ a: 1 });
    expect(Object.keys(copy)).toEqual(['a']);
    expect(copy).toEqual(JSON.parse(JSON.stringify({ a: 1, b: undefined })));
  });
});

describe('cloneSessionValue: refused values', () => {
  it.each([
    ['a function', () => 1, /function/],
    ['a class', class Foo {}, /function/],
    ['a BigInt', 10n, /BigInt.*string/],
    ['a symbol', Symbol('s'), /symbol/],
    ['undefined', undefined, /undefined.*session\.delete/],
    ['NaN', Number.NaN, /NaN/],
    ['Infinity', Number.POSITIVE_INFINITY, /Infinity/],
    ['-Infinity', Number.NEGATIVE_INFINITY, /-Infinity/],
  ])('refuses %s at the top level, naming the key', (_label, value, what) => {
    const error = refusal('token', value);
    expect(error.message).toMatch(what);
    expect(error.message).toContain('session value "token" is');
    expect(error.message).toContain('only JSON values');
  });

  it('refuses undefined inside an array, naming the index', () => {
    const error = refusal('list', [1, undefined, 3]);
    expect(error.message).toContain('"list"[1] is undefined');
  });

  it('refuses a hole in a sparse array', () => {
    // eslint-disable-next-line no-sparse-arrays
    const error = refusal('list', [1, , 3]);
    expect(error.message).toContain('"list"[1]');
  });

  it('names the path of a nested refusal, e.g. "cart".items[2]', () => {
    const error = refusal('cart', { items: [{ sku: 'a' }, { sku: 'b' }, () => 'c'] });
    expect(error.message).toContain('session value "cart".items[2] is a function');
  });

  it('names a deep object path', () => {
    const error = refusal('user', { profile: { stats: { score: 5n } } });
    expect(error.message).toContain('"user".profile.stats.score is a BigInt');
  });

  it('refuses a direct cycle', () => {
    const node: Record<string, unknown> = { name: 'a' };
    node.self = node;
    const error = refusal('node', node);
    expect(error.message).toContain('"node".self is a cyclic reference');
  });

  it('refuses an indirect cycle through an array', () => {
    const parent: { children: unknown[] } = { children: [] };
    parent.children.push({ parent });
    const error = refusal('tree', parent);
    expect(error.message).toContain('"tree".children[0].parent is a cyclic reference');
  });

  it('refuses an array that contains itself', () => {
    const list: unknown[] = [1];
    list.push(list);
    expect(refusal('list', list).message).toContain('"list"[1] is a cyclic reference');
  });

  it('refuses a Date and says to store toISOString()', () => {
    const error = refusal('when', { at: new Date(0) });
    expect(error.message).toContain('"when".at is a Date');
    expect(error.message).toContain('toISOString()');
  });

  it.each([
    ['a Map', new Map([['a', 1]]), 'a Map'],
    ['a Set', new Set([1]), 'a Set'],
    [
      'a class instance',
      new (class Cart {
        items = [];
      })(),
      'a Cart',
    ],
    ['a RegExp', /x/, 'a RegExp'],
    ['a boxed string', new String('x'), 'a String'],
    ['a Buffer', Buffer.from('x'), 'a Buffer'],
    ['an Error', new Error('x'), 'an? Error'],
  ])('refuses %s, naming its kind', (_label, value, kind) => {
    const error = refusal('v', value);
    expect(error.message).toMatch(new RegExp(`"v" is ${kind}`));
  });

  it('refuses an object whose prototype is not Object.prototype and has no constructor name', () => {
    const odd = Object.create({ inherited: true }) as object;
    expect(refusal('v', odd).message).toMatch(/"v" is a/);
  });

  it('gives a message that is one line and does not leak the value', () => {
    const error = refusal('secret', { password: 'hunter2', f: () => 'hunter2' });
    expect(error.message).not.toContain('\n');
    expect(error.message).not.toContain('hunter2');
  });
});

describe('prototype pollution', () => {
  it('keeps a "__proto__" key as plain own data', () => {
    const input = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    const copy = cloneSessionValue('k', input) as Record<string, unknown>;

    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(copy, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value).toEqual({ polluted: true });
    expect(Object.keys(copy).sort()).toEqual(['__proto__', 'a']);
    expect((copy as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('keeps a nested "__proto__" key as plain own data', () => {
    const input = JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as Record<string, unknown>;
    const copy = cloneSessionValue('k', input) as { a: object };
    expect(Object.getPrototypeOf(copy.a)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(copy.a, '__proto__')).toBe(true);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('keeps "constructor" and "prototype" keys as plain own data', () => {
    const input = { constructor: { prototype: { polluted: true } }, prototype: { polluted: true } };
    const copy = cloneSessionValue('k', input) as Record<string, unknown>;
    expect(copy).toEqual(input);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(copy, 'constructor')).toBe(true);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype.constructor).toBe(Object);
  });

  it('survives a JSON round trip with the "__proto__" key still own data', () => {
    const input = JSON.parse('{"__proto__":{"polluted":true}}') as object;
    const copy = cloneSessionValue('k', input);
    const back = parseStoredValue(JSON.stringify(copy)) as object;
    expect(Object.prototype.hasOwnProperty.call(back, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('parseStoredValue of {"__proto__":{"x":1}} does not pollute', () => {
    const parsed = parseStoredValue('{"__proto__":{"x":1}}') as Record<string, unknown>;
    expect(Object.prototype.hasOwnProperty.call(parsed, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect((parsed as { x?: unknown }).x).toBeUndefined();
    expect(({} as { x?: unknown }).x).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('x');
  });

  it('parseStoredValue of a "constructor.prototype" payload does not pollute', () => {
    const parsed = parseStoredValue('{"constructor":{"prototype":{"x":1}}}') as Record<string, unknown>;
    expect(parsed).toEqual({ constructor: { prototype: { x: 1 } } });
    expect(({} as { x?: unknown }).x).toBeUndefined();
  });
});

describe('assertSessionKey', () => {
  it('accepts a non-empty string', () => {
    expect(() => assertSessionKey('username')).not.toThrow();
    expect(() => assertSessionKey('__proto__')).not.toThrow();
  });

  it.each([
    ['an empty string', '', /got ""/],
    ['a number', 1, /got number/],
    ['undefined', undefined, /got undefined/],
    ['null', null, /got object/],
    ['a symbol', Symbol('k'), /got symbol/],
  ])('refuses %s with SessionValueError', (_label, key, got) => {
    expect(() => assertSessionKey(key)).toThrow(SessionValueError);
    expect(() => assertSessionKey(key)).toThrow(got);
  });
});

describe('text every store can hold', () => {
  it.each([
    [
      'a NUL in a string',
      { note: 'a\u0000b' },
      /^session value "v"\.note contains U\+0000; session text must be valid Unicode without U\+0000$/,
    ],
    ['a lone high surrogate', ['ok', '\uD800x'], /^session value "v"\[1\] contains an unpaired surrogate;/],
    ['a lone low surrogate', '\uDC00', /^session value "v" contains an unpaired surrogate;/],
    ['a NUL in an object key', { 'a\u0000': 1 }, /^session value "v" \(a key\) contains U\+0000;/],
  ])('refuses %s', (_name, value, message) => {
    expect(() => cloneSessionValue('v', value)).toThrow(SessionValueError);
    expect(() => cloneSessionValue('v', value)).toThrow(message);
  });

  it('accepts well-formed text, astral characters included', () => {
    expect(cloneSessionValue('v', { emoji: '😀 ok', cjk: '漢字' })).toEqual({ emoji: '😀 ok', cjk: '漢字' });
  });

  it('refuses keys with NUL or unpaired surrogates', () => {
    expect(() => assertSessionKey('a\u0000')).toThrow('session keys must be valid Unicode without U+0000');
    expect(() => assertSessionKey('\uD800')).toThrow('session keys must be valid Unicode without U+0000');
  });
});
