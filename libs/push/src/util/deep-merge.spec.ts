import { deepMerge, isPlainObject } from './deep-merge';

describe('deepMerge', () => {
  it('merges nested objects, replaces arrays and scalars, deletes on null', () => {
    const base = { a: 1, nested: { x: 1, y: 2 }, list: [1, 2], gone: 'yes' };
    const merged = deepMerge(base, { nested: { y: 3, z: 4 }, list: [9], gone: null, b: true });
    expect(merged).toEqual({ a: 1, nested: { x: 1, y: 3, z: 4 }, list: [9], b: true });
    expect(base).toEqual({ a: 1, nested: { x: 1, y: 2 }, list: [1, 2], gone: 'yes' });
  });

  it('ignores prototype-polluting keys', () => {
    const patch = JSON.parse('{"__proto__":{"polluted":true},"ok":1}');
    const merged = deepMerge({}, patch);
    expect(merged).toEqual({ ok: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('knows plain objects', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject(new Date())).toBe(false);
    expect(isPlainObject(Buffer.from('x'))).toBe(false);
  });
});
