import { isPushLimitCode, type PushLimitCode } from '../../errors/push.errors';
import type { PushSession } from '../../interfaces/push-message.interface';

/*
 * What nodes say to each other, on any transport: a JSON header, a newline, then the pushed message's bytes
 * untouched (text or binary). JSON.stringify never emits a raw newline, so the first 0x0A always ends the header,
 * and a payload is framed once for every node that receives it.
 *
 * Every header carries the protocol version `v`. A node refuses (logs and counts) a message of any other
 * version: during a rolling deploy that mixes two versions, nodes must not misread each other silently.
 */

/** The version of the node-to-node protocol this build speaks. Bump it on any change a reader would misread. */
export const CLUSTER_PROTOCOL_VERSION = 1;

/** A call on a connection that another node holds (the holder is its single writer). */
export type HolderCall =
  | { fn: 'bind'; uid: string }
  | { fn: 'unbind' }
  | { fn: 'join'; group: string }
  | { fn: 'leave'; group: string }
  | { fn: 'setSession'; session: PushSession }
  | { fn: 'updateSession'; patch: PushSession }
  /** Close it; with `final`, the body is a last message to flush first (`b`: binary). */
  | { fn: 'close'; destroy: boolean; final: boolean }
  /**
   * Hand it over to the calling node, which resumes it (resume on another node): `hash` is the SHA-256 (hex) of the
   * secret its client presented. Answered with an `AdoptReply`.
   */
  | { fn: 'adopt'; hash: string }
  /** The connection handed over with `adopt` is registered on the calling node: remove it here, without a close event. */
  | { fn: 'release' };

/** What the holder answers to an `adopt` call. */
export type AdoptReply =
  /** `busy`: another resume of it is under way (the caller tells its client to try again). */
  | { status: 'not_found' | 'refused' | 'busy' }
  | {
      status: 'ok';
      uid: string | null;
      groups: string[];
      session: PushSession;
      /** Where it joined each history: [history key, offset or null]. */
      since: [string, string | null][];
      historyLost: boolean;
    };

interface Header {
  /** Protocol version. */
  v: typeof CLUSTER_PROTOCOL_VERSION;
  /** Origin node id. */
  o: string;
}

/** Every message nodes exchange. */
export type ClusterMessage =
  /**
   * A push on a uid's, group's or everyone's channel; body = the message (`b`: binary; `j`: JSON the module
   * serialised); `x`: client_ids to skip. With history (resume): `h`, its offset in the target's history, and for a
   * send to several groups `t`, all of their names in order (a connection gets it through the first one it is in).
   */
  | (Header & { op: 'push'; b?: 1; j?: 1; x?: string[]; h?: string; t?: string[] })
  /** A push to listed client_ids of the receiving node (on its node channel); `h`: each one's history offset. */
  | (Header & { op: 'clients'; b?: 1; j?: 1; c: string[]; h?: Record<string, string> })
  /** A push to the members of several groups, de-duplicated by the sender (on a node channel). */
  | (Header & { op: 'groups'; b?: 1; j?: 1; g: string[]; x?: string[] })
  /** Close every connection of the uid whose channel this came on. */
  | (Header & { op: 'close-uid' })
  /** The group whose channel this came on was dissolved. */
  | (Header & { op: 'ungroup' })
  /** A node's probe of its own subscriber (see `Liveness`). */
  | (Header & { op: 'probe'; id: number })
  /** A call on client `c`, which the receiving node holds; answered with a `reply` of the same `id`. */
  | (Header & { op: 'call'; id: number; c: string; call: HolderCall; b?: 1 })
  /** The answer to a `call`: its result, or its error (`k`/`l`: a refused limit's code and bound). */
  | (Header & { op: 'reply'; id: number; r?: unknown; e?: string; k?: PushLimitCode; l?: number });

/** The `op` of a cluster message. */
export type ClusterOp = ClusterMessage['op'];

/** Thrown by `decodeClusterMessage` for a message written in another protocol version. */
export class ClusterVersionError extends Error {
  constructor(
    /** The version the message claims (undefined when it has none: a build from before versions existed). */
    readonly version: unknown,
    /** The node that sent it, when the header says. */
    readonly origin: string | undefined,
  ) {
    super(
      `cluster message of protocol version ${JSON.stringify(version ?? null)} from node ${origin ?? '?'}; ` +
        `this node speaks version ${CLUSTER_PROTOCOL_VERSION}`,
    );
    this.name = 'ClusterVersionError';
  }
}

/** A header without its version and origin: what a sender fills in. */
export type ClusterMessageBody = ClusterMessage extends infer M ? (M extends Header ? Omit<M, 'v' | 'o'> : never) : never;

const NEWLINE = 0x0a;

/**
 * The header of a message from `origin`, as JSON without its closing brace: a backend that stamps a history offset
 * into a push while it publishes it (the Redis scripts do) appends `,"h":…}`, a newline and the body.
 */
export function openClusterHeader(origin: string, message: ClusterMessageBody): string {
  return JSON.stringify({ v: CLUSTER_PROTOCOL_VERSION, o: origin, ...message }).slice(0, -1);
}

/** Encodes a message from `origin` with an optional body. */
export function encodeClusterMessage(origin: string, message: ClusterMessageBody, body?: Buffer): Buffer {
  const head = Buffer.from(JSON.stringify({ v: CLUSTER_PROTOCOL_VERSION, o: origin, ...message }) + '\n', 'utf8');
  return body && body.length ? Buffer.concat([head, body]) : head;
}

/**
 * Reads a payload. Throws `ClusterVersionError` for another protocol version, and a plain `Error` for anything
 * that is not a well-formed message of this version.
 */
export function decodeClusterMessage(payload: Buffer): { message: ClusterMessage; body: Buffer } {
  const end = payload.indexOf(NEWLINE);
  if (end < 0) throw new Error('malformed cluster message: no header');
  let header: unknown;
  try {
    header = JSON.parse(payload.subarray(0, end).toString('utf8'));
  } catch (error) {
    throw new Error(`malformed cluster message: ${(error as Error).message}`);
  }
  if (!isRecord(header)) throw new Error('malformed cluster message: the header is not an object');
  if (header.v !== CLUSTER_PROTOCOL_VERSION) {
    throw new ClusterVersionError(header.v, typeof header.o === 'string' ? header.o : undefined);
  }
  const problem = check(header);
  if (problem) throw new Error(`malformed cluster message (${String(header.op)}): ${problem}`);
  return { message: header as unknown as ClusterMessage, body: payload.subarray(end + 1) };
}

/** What is wrong with a header of this version, or null. */
function check(h: Record<string, unknown>): string | null {
  if (typeof h.o !== 'string') return 'no origin';
  if (h.b !== undefined && h.b !== 1) return 'bad binary flag';
  if (h.j !== undefined && h.j !== 1) return 'bad JSON flag';
  switch (h.op) {
    case 'push':
      if (h.h !== undefined && typeof h.h !== 'string') return 'bad history offset';
      return optionalStrings(h.x, 'x') ?? optionalStrings(h.t, 't');
    case 'clients':
      if (h.h !== undefined && !isStringRecord(h.h)) return 'bad history offsets';
      return strings(h.c, 'c');
    case 'groups':
      return strings(h.g, 'g') ?? optionalStrings(h.x, 'x');
    case 'close-uid':
    case 'ungroup':
      return null;
    case 'probe':
      return isId(h.id) ? null : 'bad id';
    case 'call':
      if (!isId(h.id)) return 'bad id';
      if (typeof h.c !== 'string') return 'bad client';
      return checkCall(h.call);
    case 'reply':
      if (!isId(h.id)) return 'bad id';
      if (h.e !== undefined && typeof h.e !== 'string') return 'bad error';
      if (h.k !== undefined && !isPushLimitCode(h.k)) return 'bad limit code';
      return null;
    default:
      return `unknown operation ${JSON.stringify(h.op)}`;
  }
}

function checkCall(call: unknown): string | null {
  if (!isRecord(call)) return 'bad call';
  switch (call.fn) {
    case 'bind':
      return typeof call.uid === 'string' ? null : 'bad uid';
    case 'unbind':
      return null;
    case 'join':
    case 'leave':
      return typeof call.group === 'string' ? null : 'bad group';
    case 'setSession':
      return isRecord(call.session) ? null : 'bad session';
    case 'updateSession':
      return isRecord(call.patch) ? null : 'bad patch';
    case 'close':
      return typeof call.destroy === 'boolean' && typeof call.final === 'boolean' ? null : 'bad close';
    case 'adopt':
      return typeof call.hash === 'string' ? null : 'bad adopt';
    case 'release':
      return null;
    default:
      return `unknown call ${JSON.stringify(call.fn)}`;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringRecord(value: unknown): boolean {
  return isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function strings(value: unknown, name: string): string | null {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? null : `bad ${name}`;
}

function optionalStrings(value: unknown, name: string): string | null {
  return value === undefined ? null : strings(value, name);
}
