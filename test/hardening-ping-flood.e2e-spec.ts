import WebSocket from 'ws';
import { randomInt } from 'node:crypto';
import type { LocalRegistry } from 'nest-push-channel';
import { PUSH_LOCAL_REGISTRY } from '../libs/push/src/push.constants';
import { startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';
import { waitFor } from './support/wait';

/**
 * Issue 7 #6: a ping flood grew the server's memory without bound. ws answered every protocol ping with a pong on
 * its own, outside the send-queue cap (`maxBufferedBytes`), so a client that sends pings and never reads made the
 * server queue pongs for ever. Expected: once queued pongs pass the cap the connection is closed with 1013
 * (`slow-consumer`) and counted in `slowConsumerDrops`, and everyone else is still served.
 */
describe('ping flood from a client that never reads (#6)', () => {
  const CAP = 64 * 1024;
  /** Where the flood stops if the server never drops the client: far past the cap, so the defect shows. */
  const UNBOUNDED = 16 * CAP;
  /** Safety net: bytes of pings after which the flood gives up (kernel buffers absorb a few MiB first). */
  const MAX_SENT = 96 * 1024 * 1024;

  let t: TestApp;
  let registry: LocalRegistry;
  let reader: TestClient;

  beforeAll(async () => {
    t = await startApp({ maxBufferedBytes: CAP });
    registry = t.app.get(PUSH_LOCAL_REGISTRY, { strict: false });
    reader = await TestClient.connect(t.wsUrl);
  });
  afterAll(async () => {
    await t.disconnect([reader]);
    await t.close();
  });

  /** Sends `count` masked pings of 64–125 bytes; resolves once ws has handed them all to the kernel. */
  function pingBatch(socket: WebSocket, count: number): Promise<number> {
    return new Promise((resolve) => {
      let bytes = 0;
      let left = count;
      const done = () => {
        if (--left === 0) resolve(bytes);
      };
      for (let i = 0; i < count; i++) {
        const payload = Buffer.alloc(randomInt(64, 126), 0x70);
        bytes += payload.length + 6;
        try {
          socket.ping(payload, true, done);
        } catch {
          done(); // the socket is gone: nothing more to send
        }
      }
    });
  }

  it('closes the flooder with 1013 slow-consumer once its queued pongs pass maxBufferedBytes; others served', async () => {
    const flooder = await TestClient.connect(t.wsUrl);
    const before = t.push.getMetrics().slowConsumerDrops;
    const closed = waitFor(t.events.close$, (e) => e.clientId === flooder.clientId, 60_000);
    // Never read again: whatever the server sends it (pongs) piles up in the kernel, then in the server's queue.
    (flooder.socket as unknown as { _socket: { pause(): void } })._socket.pause();

    let sent = 0;
    let maxQueued = 0;
    let rounds = 0;
    const dropped = () => t.push.getMetrics().slowConsumerDrops > before;
    while (!dropped() && sent < MAX_SENT && maxQueued <= UNBOUNDED && flooder.socket.readyState === WebSocket.OPEN) {
      sent += await pingBatch(flooder.socket, 512);
      const conn = registry.get(flooder.clientId);
      if (conn && conn.socket.readyState === WebSocket.OPEN) maxQueued = Math.max(maxQueued, conn.socket.bufferedAmount);
      // Everyone else is served during the flood.
      if (++rounds % 20 === 0) {
        expect(await t.push.sendToClient(reader.clientId, { round: rounds })).toBe(1);
        expect(await reader.next()).toEqual({ round: rounds });
      }
    }
    // Dropped, and the server's queue for it never grew past the cap (plus at most the pong that tripped it).
    const outcome = { dropped: dropped(), queueWithinCap: maxQueued <= CAP + 256, pingBytesSent: sent, maxQueued };
    expect(outcome).toEqual({ dropped: true, queueWithinCap: true, pingBytesSent: sent, maxQueued });
    expect(t.push.getMetrics().slowConsumerDrops).toBe(before + 1);

    // The flooder finds out when it reads again; the server reports the close as the slow-consumer drop.
    flooder.socket.terminate();
    expect(await closed).toMatchObject({ clientId: flooder.clientId, code: 1013, reason: 'slow-consumer' });
    expect(await t.push.isOnline(flooder.clientId)).toBe(false);

    expect(await t.push.sendToClient(reader.clientId, 'after')).toBe(1);
    expect(await reader.next()).toBe('after');
    expect(t.push.getMetrics().slowConsumerDrops).toBe(before + 1);
  });
});
