import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { PushEngine } from './engine/push.engine';

/**
 * Stops the engine last: Nest runs `onApplicationShutdown` after the gateway's `beforeApplicationShutdown` has
 * drained the sockets, so the engine can still remove the entries of the connections that closed.
 */
@Injectable()
export class PushLifecycle implements OnApplicationShutdown {
  constructor(private readonly engine: PushEngine) {}

  async onApplicationShutdown(): Promise<void> {
    await this.engine.close();
  }
}
