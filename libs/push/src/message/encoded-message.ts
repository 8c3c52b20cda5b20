import { PushInvalidArgumentError } from '../errors/push.errors';
import type { PushMessage } from '../interfaces/push-message.interface';

/**
 * A message serialised once, ready to be written to any number of sockets. Engines pass it around instead of
 * the caller's value so that fan-out never serialises per recipient.
 */
export class EncodedMessage {
  private framed: Buffer | null = null;

  private constructor(
    /** The frame payload. */
    readonly data: Buffer,
    /** True for a binary frame, false for a text frame. */
    readonly binary: boolean,
  ) {}

  /** Serialises `message`: strings as text, Buffer/Uint8Array as binary, any other JSON value via JSON.stringify. */
  static encode(message: PushMessage): EncodedMessage {
    if (typeof message === 'string') return new EncodedMessage(Buffer.from(message, 'utf8'), false);
    if (Buffer.isBuffer(message)) return new EncodedMessage(message, true);
    if (message instanceof Uint8Array) {
      return new EncodedMessage(Buffer.from(message.buffer, message.byteOffset, message.byteLength), true);
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
    return new EncodedMessage(Buffer.from(json, 'utf8'), false);
  }

  /** Rebuilds a message from its payload and frame kind (what a cluster transport carries). */
  static fromWire(data: Buffer, binary: boolean): EncodedMessage {
    return new EncodedMessage(data, binary);
  }

  /** Payload size in bytes. */
  get byteLength(): number {
    return this.data.byteLength;
  }

  /**
   * The whole unmasked WebSocket frame (header and payload in one buffer), built by `build` on first use and then
   * the same bytes for every recipient: a fan-out frames once. The socket writer (`SocketWriter`) supplies `build`
   * and is the only caller; every builder makes the same bytes for the same payload, so the first one is kept.
   */
  framedBy(build: (data: Buffer, binary: boolean) => Buffer): Buffer {
    if (this.framed === null) this.framed = build(this.data, this.binary);
    return this.framed;
  }
}
