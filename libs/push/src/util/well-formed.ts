/**
 * True when `value` has no lone UTF-16 surrogate. An ill-formed string reaches Redis (and any UTF-8 wire) as
 * U+FFFD, so `"\ud800"` and `"\ufffd"` would name the same key or channel: such names are refused instead of
 * aliased. (`String.prototype.isWellFormed` is in Node 20, not yet in TypeScript's ES2022 lib.)
 */
export function isWellFormedString(value: string): boolean {
  return (value as string & { isWellFormed(): boolean }).isWellFormed();
}
