import type { WebSocket } from 'ws';

/** The part of ws's (8.x) frame receiver this touches; checked before use, so another shape is left alone. */
interface FrameReceiver {
  _mask?: Buffer;
  _buffers?: Buffer[];
  _bufferedBytes?: number;
}

/**
 * Lets go of what ws's receiver keeps of the frame a socket just received, for as long as the connection then stays
 * idle: the frame's 4-byte mask, a view into the TCP chunk it came in (so it pins that chunk), and its list of
 * pending chunks, grown to 17 slots by the first one. Every resumable client sends a hello and every browser answers
 * pings, so an idle connection paid ~350 B of heap for its last frame. The mask is read again for every masked frame
 * before its data (ws `Receiver.getMask`) and not used after the frame's event; the list is only swapped for a new
 * empty one when nothing is buffered, so the next chunk is pushed onto that.
 */
export function releaseFrameBuffers(socket: WebSocket): void {
  const receiver = (socket as unknown as { _receiver?: FrameReceiver | null })._receiver;
  if (!receiver) return;
  if (receiver._mask !== undefined) receiver._mask = undefined;
  if (receiver._bufferedBytes === 0 && Array.isArray(receiver._buffers) && receiver._buffers.length === 0) {
    receiver._buffers = [];
  }
}
