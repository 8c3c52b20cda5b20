/**
 * What a push carries. A `string` leaves as a text frame, a `Buffer` / `Uint8Array` as a binary frame, and any
 * other JSON value is serialised once (`JSON.stringify`) and leaves as a text frame.
 */
export type PushMessage = string | Buffer | Uint8Array | JsonValue;

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The per-connection session: a JSON object, readable and writable from anywhere in the cluster. */
export type PushSession = Record<string, unknown>;
