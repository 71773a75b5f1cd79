import { jsonEntryBytes, jsonObjectBytes, SessionSizeTally } from './session-size.js';

/** What the tally must agree with: the values as one JSON object, in UTF-8 bytes. */
function measured(values: ReadonlyMap<string, unknown>): number {
  return Buffer.byteLength(JSON.stringify(Object.fromEntries(values)));
}

function tallied(tally: SessionSizeTally, values: ReadonlyMap<string, unknown>): number {
  return jsonObjectBytes(values.size, tally.entryBytes(values));
}

describe('SessionSizeTally', () => {
  it('gives the exact UTF-8 size of the values as one JSON object, empty included', () => {
    const cases: Array<Record<string, unknown>> = [
      {},
      { a: 1 },
      { user: { name: 'ada', roles: ['admin'] }, n: 3.5, ok: true, none: null },
      { ключ: 'значение', emoji: '🙂', quote: 'say "hi"\n', back: '\\' },
    ];
    for (const data of cases) {
      const values = new Map(Object.entries(data));
      expect(tallied(new SessionSizeTally(), values)).toBe(measured(values));
    }
  });

  it('counts a key named __proto__ like any other', () => {
    const values = new Map<string, unknown>([['__proto__', { x: 1 }]]);
    expect(tallied(new SessionSizeTally(), values)).toBe(Buffer.byteLength('{"__proto__":{"x":1}}'));
  });

  it('stays exact through sets, replacements, deletes and clears once measured', () => {
    const values = new Map<string, unknown>([
      ['a', 'x'.repeat(10)],
      ['b', [1, 2, 3]],
    ]);
    const tally = new SessionSizeTally();
    expect(tallied(tally, values)).toBe(measured(values));
    /** What the handle does: the tally hears of each change with what the key held before. */
    const set = (key: string, value: unknown) => {
      tally.set(key, value, values.has(key), values.get(key));
      values.set(key, value);
    };
    const remove = (key: string) => {
      tally.delete(key, values.has(key), values.get(key));
      values.delete(key);
    };
    const steps: Array<() => void> = [
      () => set('c', { deep: 'é'.repeat(5) }),
      () => set('a', 'short'), // a loaded key: its old size is measured now
      () => set('a', 'shorter still'), // set in this request: its old size is known
      () => remove('b'),
      () => remove('missing'),
      () => remove('c'),
      () => (values.clear(), tally.clear()),
      () => set('z', 0),
      () => set('z', 'zz'),
    ];
    for (const step of steps) {
      step();
      expect(tallied(tally, values)).toBe(measured(values));
    }
  });

  it('does no work until asked, and measures again after forget()', () => {
    const tally = new SessionSizeTally();
    const values = new Map<string, unknown>([['a', 1]]);
    // Changes before the first measure are picked up by it, not tallied twice.
    tally.set('b', 2, false, undefined);
    values.set('b', 2);
    tally.delete('a', true, 1);
    tally.clear();
    expect(tallied(tally, values)).toBe(measured(values));
    const replaced = new Map<string, unknown>([['other', 'value']]);
    tally.forget();
    expect(tallied(tally, replaced)).toBe(measured(replaced));
  });

  it('starts from a size the store reported, with no measure, and stays exact', () => {
    const values = new Map<string, unknown>([
      ['a', 'x'.repeat(10)],
      ['é', { n: 1 }],
    ]);
    const tally = new SessionSizeTally();
    tally.loaded(values.size, measured(values));
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      expect(tallied(tally, values)).toBe(measured(new Map(values)));
      expect(stringify).toHaveBeenCalledTimes(1); // the expectation's own measure only
    } finally {
      stringify.mockRestore();
    }
    tally.set('a', 'y', true, values.get('a'));
    values.set('a', 'y');
    tally.delete('é', true, values.get('é'));
    values.delete('é');
    expect(tallied(tally, values)).toBe(measured(values));
    tally.loaded(0, 2);
    expect(tallied(tally, new Map())).toBe(2);
    tally.loaded(1, undefined); // no report: measured when asked
    const other = new Map<string, unknown>([['k', true]]);
    expect(tallied(tally, other)).toBe(measured(other));
  });

  it('jsonEntryBytes counts the quoted key, the value and two separators', () => {
    expect(jsonEntryBytes('k', 'v')).toBe('"k":"v",'.length);
    expect(jsonEntryBytes('é', 1)).toBe(Buffer.byteLength('"é":1,'));
  });
});
