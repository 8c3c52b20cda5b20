import WebSocket from 'ws';
import { PushInvalidArgumentError } from '../errors/push.errors';

/** ws's frame builder (public on the class, missing from @types/ws). */
const Sender = (WebSocket as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
}).Sender;
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
   * The whole unmasked WebSocket frame (header and payload in one buffer), built on first use and then shared by
   * every recipient: a fan-out frames once and writes the same bytes to every socket. Only valid for sockets
   * without permessage-deflate (the gateway turns it off).
   */
  get frame(): Buffer {
    if (this.framed === null) {
      const parts = Sender.frame(this.data, { fin: true, opcode: this.binary ? 2 : 1, mask: false, readOnly: true, rsv1: false });
      this.framed = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    }
    return this.framed;
  }
}
