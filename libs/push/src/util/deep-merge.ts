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
 * can remove a key without replacing the whole session.
 */
export function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const key of Object.keys(patch)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const value = patch[key];
    if (value === null) {
      delete out[key];
    } else if (isPlainObject(value) && isPlainObject(out[key])) {
      out[key] = deepMerge(out[key] as Record<string, unknown>, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}
