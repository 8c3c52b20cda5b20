/** A plain object literal (not an array, Date, Buffer, class instance or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  // Compared by shape, not by identity with this realm's Object.prototype: structuredClone and vm contexts
  // (Jest among them) hand out objects whose prototype is another realm's Object.prototype.
  const proto = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * Merges `patch` into a copy of `base`: nested plain objects merge key by key, anything else (arrays included)
 * replaces, and a key whose value is `null` is deleted — the usual JSON merge-patch rule (RFC 7386), so a caller
 * can remove a key without replacing the whole session. Every key is data, `constructor` and `prototype`
 * included (as `setSession` stores them); `__proto__` is written as an own property, never as the prototype.
 */
export function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) {
      delete out[key];
      continue;
    }
    const current = Object.prototype.hasOwnProperty.call(out, key) ? ownValue(out, key) : undefined;
    const merged = isPlainObject(value) && isPlainObject(current) ? deepMerge(current, value) : value;
    // Plain assignment to "__proto__" would change the object's prototype instead of storing the key.
    Object.defineProperty(out, key, { value: merged, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function ownValue(object: Record<string, unknown>, key: string): unknown {
  return Object.getOwnPropertyDescriptor(object, key)?.value;
}
