import { PushInvalidArgumentError } from '../errors/push.errors';
import type { HistoryOffset } from '../history/history-offset';
import type { PushMessage } from '../interfaces/push-message.interface';

/** A frame built once and shared by every view of one message (see `withEnvelope`). */
interface FrameCache {
  framed: Buffer | null;
}

/**
 * Which connections a delivery writes: all of them, only plain ones (a cluster engine's sender: resumable ones get the
 * message from the ordered stream that carries its history offset), or only resumable ones (that stream's copy on
 * the node that sent it, whose plain connections already have it).
 */
export type DeliveryAudience = 'all' | 'plain' | 'resumable';

/** The history entry a resumable connection's frame carries (see `EncodedMessage.entry`). */
export interface EnvelopeEntry {
  /** The target's history key (`targetKey`). */
  key: string;
  offset: HistoryOffset;
}

/**
 * A message serialised once, ready to be written to any number of sockets. Engines pass it around instead of
 * the caller's value so that fan-out never serialises per recipient.
 *
 * A message to a target that keeps a history also carries its `envelope`: the same message as resumable connections
 * (the official client's protocol) receive it, with the target's history key and the message's offset in it, built
 * once per target. Plain connections receive `data` as it is.
 */
export class EncodedMessage {
  /**
   * This delivery as resumable connections receive it; null until one needs it when the message is in no history
   * (the registry then wraps it without an entry, once, and keeps that here).
   */
  envelope: EncodedMessage | null = null;
  /** On an envelope: the history entry it carries; null on a plain message and on an envelope without an entry. */
  entry: EnvelopeEntry | null = null;
  /** Which connections a delivery of it writes (see `DeliveryAudience`). */
  audience: DeliveryAudience = 'all';

  private constructor(
    /** The frame payload. */
    readonly data: Buffer,
    /** True for a binary frame, false for a text frame. */
    readonly binary: boolean,
    /** True when `data` is the JSON the module serialised a value into (the official client parses it back). */
    readonly json: boolean,
    private readonly cache: FrameCache = { framed: null },
  ) {}

  /** Serialises `message`: strings as text, Buffer/Uint8Array as binary, any other JSON value via JSON.stringify. */
  static encode(message: PushMessage): EncodedMessage {
    if (typeof message === 'string') return new EncodedMessage(Buffer.from(message, 'utf8'), false, false);
    if (Buffer.isBuffer(message)) return new EncodedMessage(message, true, false);
    if (message instanceof Uint8Array) {
      return new EncodedMessage(Buffer.from(message.buffer, message.byteOffset, message.byteLength), true, false);
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(message);
    } catch (error) {
      throw new PushInvalidArgumentError(`message cannot be serialised as JSON: ${(error as Error).message}`);
    }
    if (json === undefined) {
      throw new PushInvalidArgumentError(`message must be a string, a Buffer or a JSON value, got ${typeof message}`);
    }
    return new EncodedMessage(Buffer.from(json, 'utf8'), false, true);
  }

  /** Rebuilds a message from its payload and frame kind (what a cluster transport or a history carries). */
  static fromWire(data: Buffer, binary: boolean, json = false): EncodedMessage {
    return new EncodedMessage(data, binary, json);
  }

  /** Payload size in bytes. */
  get byteLength(): number {
    return this.data.byteLength;
  }

  /**
   * The same message, to be written with `envelope` to resumable connections: a view that shares the payload and the
   * frame built for plain connections (a send to several uids frames the plain message once, not once per uid).
   */
  withEnvelope(envelope: EncodedMessage): EncodedMessage {
    const view = new EncodedMessage(this.data, this.binary, this.json, this.cache);
    view.envelope = envelope;
    view.audience = this.audience;
    return view;
  }

  /** The same message (sharing its payload, frame and envelope), delivered to `audience` only. */
  forAudience(audience: DeliveryAudience): EncodedMessage {
    const view = new EncodedMessage(this.data, this.binary, this.json, this.cache);
    view.envelope = this.envelope;
    view.audience = audience;
    return view;
  }

  /**
   * The whole unmasked WebSocket frame (header and payload in one buffer), built by `build` on first use and then
   * the same bytes for every recipient: a fan-out frames once. The socket writer (`SocketWriter`) supplies `build`
   * and is the only caller; every builder makes the same bytes for the same payload, so the first one is kept.
   */
  framedBy(build: (data: Buffer, binary: boolean) => Buffer): Buffer {
    if (this.cache.framed === null) this.cache.framed = build(this.data, this.binary);
    return this.cache.framed;
  }
}
