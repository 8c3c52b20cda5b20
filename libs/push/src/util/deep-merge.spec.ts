import { deepMerge, isPlainObject } from './deep-merge';

/** An own property's value, read without going through the `__proto__` accessor. */
function own(object: object, key: string): unknown {
  return Object.getOwnPropertyDescriptor(object, key)?.value;
}

describe('deepMerge', () => {
  it('merges nested objects, replaces arrays and scalars, deletes on null', () => {
    const base = { a: 1, nested: { x: 1, y: 2 }, list: [1, 2], gone: 'yes' };
    const merged = deepMerge(base, { nested: { y: 3, z: 4 }, list: [9], gone: null, b: true });
    expect(merged).toEqual({ a: 1, nested: { x: 1, y: 3, z: 4 }, list: [9], b: true });
    expect(base).toEqual({ a: 1, nested: { x: 1, y: 2 }, list: [1, 2], gone: 'yes' });
  });

  // Issue 7 #11: updateSession silently dropped `constructor` and `prototype`, which setSession stores. They are
  // ordinary JSON keys; only `__proto__` needs care, and it must become an own key, never the prototype.
  describe('keys named like prototype machinery (#11)', () => {
    it('keeps "constructor" and "prototype" as ordinary keys, as setSession stores them', () => {
      const patch = JSON.parse('{"constructor":"c","prototype":{"p":1},"ok":1}');
      const merged = deepMerge({}, patch);
      expect(Object.keys(merged).sort()).toEqual(['constructor', 'ok', 'prototype']);
      expect(own(merged, 'constructor')).toBe('c');
      expect(own(merged, 'prototype')).toEqual({ p: 1 });
      expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    });

    it('merges into and deletes "constructor" and "prototype" like any other key', () => {
      const base = JSON.parse('{"constructor":{"a":1},"prototype":[1],"keep":true}');
      const merged = deepMerge(base, JSON.parse('{"constructor":{"b":2},"prototype":null}'));
      expect(own(merged, 'constructor')).toEqual({ a: 1, b: 2 });
      expect(Object.prototype.hasOwnProperty.call(merged, 'prototype')).toBe(false);
      expect(Object.keys(merged).sort()).toEqual(['constructor', 'keep']);
      // The base is not changed.
      expect(own(base, 'constructor')).toEqual({ a: 1 });
    });

    it('keeps them in nested objects too', () => {
      const merged = deepMerge({ n: { x: 1 } }, JSON.parse('{"n":{"constructor":1,"prototype":2}}'));
      expect(merged).toEqual({ n: { x: 1, constructor: 1, prototype: 2 } });
      expect(Object.keys(merged.n as object).sort()).toEqual(['constructor', 'prototype', 'x']);
    });

    it('stores "__proto__" as an own key and never changes a prototype', () => {
      const patch = JSON.parse('{"__proto__":{"polluted":true},"ok":1}');
      const merged = deepMerge({}, patch);
      expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
      expect(Object.prototype.hasOwnProperty.call(merged, '__proto__')).toBe(true);
      expect(own(merged, '__proto__')).toEqual({ polluted: true });
      expect(Object.keys(merged).sort()).toEqual(['__proto__', 'ok']);
      expect((merged as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(JSON.parse(JSON.stringify(merged))).toEqual(JSON.parse('{"__proto__":{"polluted":true},"ok":1}'));
    });

    it('a nested "__proto__" is an own key of the nested object, merged like any other', () => {
      const base = JSON.parse('{"n":{"__proto__":{"a":1}}}');
      const merged = deepMerge(base, JSON.parse('{"n":{"__proto__":{"b":2}}}'));
      const n = merged.n as object;
      expect(Object.getPrototypeOf(n)).toBe(Object.getPrototypeOf(base.n));
      expect(own(n, '__proto__')).toEqual({ a: 1, b: 2 });
      expect((n as Record<string, unknown>).b).toBeUndefined();
      expect(own(base.n, '__proto__')).toEqual({ a: 1 });
    });

    it('deletes an own "__proto__" key on null without touching the prototype', () => {
      const base = JSON.parse('{"__proto__":{"a":1},"k":1}');
      const merged = deepMerge(base, JSON.parse('{"__proto__":null}'));
      expect(Object.prototype.hasOwnProperty.call(merged, '__proto__')).toBe(false);
      expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
      expect(merged).toEqual({ k: 1 });
    });
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
