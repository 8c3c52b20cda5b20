/** A lone UTF-16 surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * True when `value` has no lone surrogate. An ill-formed string reaches Redis (and any UTF-8 wire) as U+FFFD, so
 * `"\ud800"` and `"\ufffd"` would name the same key or channel: such names are refused instead of aliased.
 */
export function isWellFormedString(value: string): boolean {
  const native = (value as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(value) : !LONE_SURROGATE.test(value);
}
