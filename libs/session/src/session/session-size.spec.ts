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
    const steps: Array<() => void> = [
      () => (values.set('c', { deep: 'é'.repeat(5) }), tally.set('c', values.get('c'))),
      () => (values.set('a', 'short'), tally.set('a', 'short')),
      () => (values.delete('b'), tally.delete('b')),
      () => (values.delete('missing'), tally.delete('missing')),
      () => (values.clear(), tally.clear()),
      () => (values.set('z', 0), tally.set('z', 0)),
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
    values.set('b', 2);
    tally.set('b', 2);
    tally.clear();
    expect(tallied(tally, values)).toBe(measured(values));
    const replaced = new Map<string, unknown>([['other', 'value']]);
    tally.forget();
    expect(tallied(tally, replaced)).toBe(measured(replaced));
  });

  it('jsonEntryBytes counts the quoted key, the value and two separators', () => {
    expect(jsonEntryBytes('k', 'v')).toBe('"k":"v",'.length);
    expect(jsonEntryBytes('é', 1)).toBe(Buffer.byteLength('"é":1,'));
  });
});
