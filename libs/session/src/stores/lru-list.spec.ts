import { LruList, type LruNode } from './lru-list.js';

interface Item extends LruNode {
  name: string;
}

const item = (name: string): Item => ({ name, lruPrev: undefined, lruNext: undefined });

/** The list from least to most recently used, walked both ways so broken back links show. */
function order(list: LruList<Item>): string[] {
  const forward: string[] = [];
  let last: Item | undefined;
  for (let node = list.first(); node !== undefined; node = node.lruNext as Item | undefined) {
    forward.push(node.name);
    last = node;
  }
  const backward: string[] = [];
  for (let node = last; node !== undefined; node = node.lruPrev as Item | undefined) backward.unshift(node.name);
  expect(backward).toEqual(forward);
  return forward;
}

describe('LruList', () => {
  it('keeps entries least recently used first', () => {
    const list = new LruList<Item>();
    expect(list.first()).toBeUndefined();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    list.push(a);
    list.push(b);
    list.push(c);
    expect(order(list)).toEqual(['a', 'b', 'c']);
    list.touch(a);
    expect(order(list)).toEqual(['b', 'c', 'a']);
    list.touch(c);
    expect(order(list)).toEqual(['b', 'a', 'c']);
    list.touch(c); // already the most recent
    expect(order(list)).toEqual(['b', 'a', 'c']);
    expect(list.first()?.name).toBe('b');
  });

  it('removes the first, a middle and the last entry, and an only one', () => {
    const list = new LruList<Item>();
    const items = ['a', 'b', 'c', 'd'].map(item);
    for (const each of items) list.push(each);
    list.remove(items[0]);
    expect(order(list)).toEqual(['b', 'c', 'd']);
    list.remove(items[2]);
    expect(order(list)).toEqual(['b', 'd']);
    list.remove(items[3]);
    expect(order(list)).toEqual(['b']);
    expect(items[3].lruPrev).toBeUndefined();
    list.remove(items[1]);
    expect(order(list)).toEqual([]);
    expect(list.first()).toBeUndefined();
    // A removed entry can come back.
    list.push(items[2]);
    list.push(items[0]);
    expect(order(list)).toEqual(['c', 'a']);
  });

  it('starts empty again after clear()', () => {
    const list = new LruList<Item>();
    list.push(item('a'));
    list.push(item('b'));
    list.clear();
    expect(list.first()).toBeUndefined();
    list.push(item('c'));
    expect(order(list)).toEqual(['c']);
  });
});
