import { Logger } from '@nestjs/common';
import { PushEngineUnavailableError, PushLimitExceededError } from '../../errors/push.errors';
import { parseOffset, type HistoryOffset } from '../../history/history-offset';
import { EncodedMessage } from '../../message/encoded-message';
import type { PushMetrics } from '../../push-metrics.service';
import {
  ClusterMessage,
  ClusterMessageBody,
  ClusterVersionError,
  decodeClusterMessage,
  encodeClusterMessage,
  type HolderCall,
} from './cluster-message';
import type { ClusterRoute, ClusterTransport } from './cluster-transport';

/**
 * What a push on a target's channel says besides its message: its offset in the target's history (null when the
 * target keeps none), the groups of a send to several (a connection gets it through the first it is in), and whether
 * this node sent it (its plain connections have it already).
 */
export interface RecordedPush {
  offset: HistoryOffset | null;
  groups: readonly string[] | null;
  own: boolean;
}

/** What a node does with the messages other nodes send it (`ClusterEngine` implements it). */
export interface ClusterInbox {
  /** A push to this node's members of a uid, a group, or everyone (`recorded`: with its history offset). */
  push(route: ClusterRoute, message: EncodedMessage, exclude: ReadonlySet<string> | null, recorded?: RecordedPush): void;
  /**
   * A push to listed client_ids of this node; `offsets`: each resumable one's history offset (`own`: sent by this
   * node, whose plain connections have it already).
   */
  pushToClients(
    clientIds: readonly string[],
    message: EncodedMessage,
    offsets?: Readonly<Record<string, string>> | null,
    own?: boolean,
  ): void;
  /** A push to this node's members of several groups, each once. */
  pushToGroups(groups: readonly string[], message: EncodedMessage, exclude: ReadonlySet<string> | null): void;
  /** Close this node's connections of `uid`. */
  closeUid(uid: string): void;
  /** `group` was dissolved. */
  ungroup(group: string): void;
  /** This node's own probe came back. */
  probeHeard(id: number): void;
  /** Another node's (`from`) call on a connection this node holds; resolves to its result. */
  serve(clientId: string, call: HolderCall, body: Buffer, binary: boolean, from: string): Promise<unknown>;
}

/** What a push names besides its message: see `NodeMessaging.pushBody`. */
export interface PushExtra {
  /** client_ids to skip. */
  x?: string[];
  /** The client_ids it is for (on a node's channel). */
  c?: string[];
  /** The groups it is for, de-duplicated by the sender (on a node's channel). */
  g?: string[];
  /** The groups of a send to several, on each group's channel (each node de-duplicates). */
  t?: string[];
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Calls to other nodes that may wait for an answer at once; more are refused with 503 (each waits requestTimeout). */
export const MAX_PENDING_CALLS = 10_000;

/** Distinct (origin, version) pairs logged at warn level; past that, mixed-version messages are only counted. */
const VERSION_WARNINGS = 100;

/**
 * Node-to-node messaging on top of a `ClusterTransport`: it encodes and decodes the typed messages, refuses (logs
 * and counts) a message of another protocol version or a malformed one, hands the rest to the `ClusterInbox`, and
 * runs request/reply: a call on a connection another node holds is published to that node and waits, at most
 * `requestTimeout`, for its reply.
 */
export class NodeMessaging {
  private readonly logger = new Logger('PushCluster');
  private readonly pending = new Map<number, PendingCall>();
  private seq = 0;
  private readonly versionsWarned = new Set<string>();

  constructor(
    private readonly nodeId: string,
    private readonly transport: ClusterTransport,
    private readonly inbox: ClusterInbox,
    private readonly metrics: PushMetrics,
    private readonly requestTimeout: number,
    /** Whether a node's liveness entry has not expired (tells a reconnecting node from a gone one). */
    private readonly isAlive: (node: string) => Promise<boolean>,
    /** Counts a failed backend call (a timed-out one as a request timeout too). */
    private readonly failed: (error: unknown) => void = () => void metrics.engineErrors++,
  ) {}

  /** Calls waiting for a reply. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /** Encodes a message from this node. */
  encode(message: ClusterMessageBody, body?: Buffer): Buffer {
    return encodeClusterMessage(this.nodeId, message, body);
  }

  /** Encodes a push of `message` (its bytes as the body). */
  encodePush(message: EncodedMessage, extra: PushExtra = {}): Buffer {
    return this.encode(this.pushBody(message, extra), message.data);
  }

  /**
   * The header of a push of `message`: to listed client_ids (`c`), to several groups de-duplicated by the sender (`g`),
   * or on a target's channel (with `t`, the groups of a send to several that each node de-duplicates).
   */
  pushBody(message: EncodedMessage, extra: PushExtra = {}): ClusterMessageBody {
    const flags = { ...(message.binary ? { b: 1 as const } : {}), ...(message.json ? { j: 1 as const } : {}) };
    if (extra.c) return { op: 'clients', c: extra.c, ...flags };
    if (extra.g) return { op: 'groups', g: extra.g, ...(extra.x ? { x: extra.x } : {}), ...flags };
    return { op: 'push', ...(extra.x?.length ? { x: extra.x } : {}), ...(extra.t ? { t: extra.t } : {}), ...flags };
  }

  /**
   * Runs `call` on client `clientId`, held by `node`, and resolves to the holder's result: false when the node is
   * gone (and the client with it). Rejects with `PushEngineUnavailableError` when the node is alive but not
   * listening, does not answer within `requestTimeout`, or the backend is unreachable; with the holder's error
   * otherwise (a refused limit stays a `PushLimitExceededError`).
   */
  async call(node: string, clientId: string, call: HolderCall, body?: Buffer, binary = false): Promise<unknown> {
    if (this.pending.size >= MAX_PENDING_CALLS) {
      throw new PushEngineUnavailableError(`too many calls are waiting for other nodes (${MAX_PENDING_CALLS})`);
    }
    const id = ++this.seq;
    const payload = this.encode({ op: 'call', id, c: clientId, call, ...(binary ? { b: 1 as const } : {}) }, body);
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.metrics.requestTimeouts++;
        reject(new PushEngineUnavailableError(`node ${node} did not answer within ${this.requestTimeout} ms`));
      }, this.requestTimeout);
      this.pending.set(id, { resolve, reject, timer });
    });
    answer.catch(() => undefined); // settled below on every path; the caller awaits it
    try {
      const receivers = await this.transport.publishToNode(node, payload);
      // Nobody listens on that node's route: the node is gone, and so is the client; or the node is alive and
      // its listener is reconnecting, which is not the client's absence but a moment's unavailability.
      if (receivers === 0) {
        if (await this.isAlive(node)) {
          this.settle(id, new PushEngineUnavailableError(`node ${node} is alive but not listening (reconnecting)`));
        } else {
          this.settle(id, null, false);
        }
      }
    } catch (error) {
      this.settle(id, error as Error);
    }
    return answer;
  }

  /** Reads one payload that arrived on `route` and acts on it. Never throws. */
  receive(route: ClusterRoute, payload: Buffer): void {
    let message: ClusterMessage;
    let body: Buffer;
    try {
      ({ message, body } = decodeClusterMessage(payload));
    } catch (error) {
      this.refuse(route, error as Error);
      return;
    }
    try {
      this.dispatch(route, message, body);
    } catch (error) {
      this.metrics.badClusterMessages++;
      this.logger.error(`could not handle a cluster message (${message.op}): ${(error as Error).message}`);
    }
  }

  /** Rejects every waiting call (the engine is closing). */
  close(reason: string): void {
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new PushEngineUnavailableError(reason));
    }
    this.pending.clear();
  }

  private refuse(route: ClusterRoute, error: Error): void {
    if (error instanceof ClusterVersionError) {
      this.metrics.clusterVersionRefusals++;
      const key = `${error.origin}/${String(error.version)}`;
      if (this.versionsWarned.size < VERSION_WARNINGS && !this.versionsWarned.has(key)) {
        this.versionsWarned.add(key);
        this.logger.warn(`ignored ${error.message} (are two versions deployed at once?); further ones are counted`);
      } else {
        this.logger.debug?.(`ignored ${error.message}`);
      }
      return;
    }
    this.metrics.badClusterMessages++;
    this.logger.error(`dropped a cluster message on ${routeName(route)}: ${error.message}`);
  }

  private dispatch(route: ClusterRoute, message: ClusterMessage, body: Buffer): void {
    if (route.kind === 'node') return this.dispatchToNode(message, body);
    const own = message.o === this.nodeId;
    // A push this node published was written here first, except to resumable connections when it carries a history
    // offset: they get it from here, in the order of the offsets.
    if (own && !(message.op === 'push' && message.h !== undefined)) return;
    switch (message.op) {
      case 'push': {
        const exclude = message.x ? new Set(message.x) : null;
        const pushed = EncodedMessage.fromWire(body, message.b === 1, message.j === 1);
        if (message.h === undefined && message.t === undefined) return this.inbox.push(route, pushed, exclude);
        const offset = message.h === undefined ? null : parseOffset(message.h);
        if (message.h !== undefined && !offset) throw new Error(`bad history offset ${JSON.stringify(message.h)}`);
        return this.inbox.push(route, pushed, exclude, { offset, groups: message.t ?? null, own });
      }
      case 'close-uid':
        if (route.kind === 'uid') return this.inbox.closeUid(route.name);
        break;
      case 'ungroup':
        if (route.kind === 'group') return this.inbox.ungroup(route.name);
        break;
    }
    throw new Error(`operation ${message.op} does not belong on ${routeName(route)}`);
  }

  private dispatchToNode(message: ClusterMessage, body: Buffer): void {
    switch (message.op) {
      case 'probe':
        if (message.o === this.nodeId) this.inbox.probeHeard(message.id);
        return;
      case 'reply':
        return this.settle(message.id, message.e === undefined ? null : replyError(message), message.r);
      case 'clients':
        return this.inbox.pushToClients(
          message.c,
          EncodedMessage.fromWire(body, message.b === 1, message.j === 1),
          message.h ?? null,
          message.o === this.nodeId,
        );
      case 'groups':
        return this.inbox.pushToGroups(
          message.g,
          EncodedMessage.fromWire(body, message.b === 1, message.j === 1),
          message.x ? new Set(message.x) : null,
        );
      case 'call':
        return void this.answer(message, body);
      default:
        throw new Error(`operation ${message.op} does not belong on a node route`);
    }
  }

  /** Serves another node's call and replies to it. */
  private async answer(message: Extract<ClusterMessage, { op: 'call' }>, body: Buffer): Promise<void> {
    let reply: ClusterMessageBody;
    try {
      const result = await this.inbox.serve(message.c, message.call, body, message.b === 1, message.o);
      reply = { op: 'reply', id: message.id, r: result };
    } catch (failure) {
      const error = failure as Error;
      reply = { op: 'reply', id: message.id, e: error.message };
      if (failure instanceof PushLimitExceededError) Object.assign(reply, { k: failure.code, l: failure.limit });
    }
    try {
      await this.transport.publishToNode(message.o, this.encode(reply));
    } catch (failure) {
      this.failed(failure);
      this.logger.warn(`could not answer node ${message.o}: ${(failure as Error).message}`);
    }
  }

  private settle(id: number, error: Error | null, value?: unknown): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (error) call.reject(error);
    else call.resolve(value);
  }
}

/** The error a holder reported, typed again: a refused limit stays a limit, anything else is 503. */
function replyError(reply: Extract<ClusterMessage, { op: 'reply' }>): Error {
  const message = String(reply.e);
  if (reply.k !== undefined) return new PushLimitExceededError(reply.k, message, Number(reply.l));
  return new PushEngineUnavailableError(message);
}

/** A route in words, for logs. */
export function routeName(route: ClusterRoute): string {
  switch (route.kind) {
    case 'node':
      return `node ${route.node}`;
    case 'all':
      return 'all';
    default:
      return `${route.kind} ${JSON.stringify(route.name)}`;
  }
}
