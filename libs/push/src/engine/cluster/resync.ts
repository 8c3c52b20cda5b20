import { Logger } from '@nestjs/common';

/**
 * When this node's index entries must be written back, and that only one write-back runs at a time: the state
 * machine around `run` (idle → running → idle, or → running again when a trigger arrived meanwhile, since it may
 * concern a later reconnect). A failed run leaves the resync owed, and the next liveness tick retries it.
 */
export class Resync {
  private readonly logger = new Logger('PushCluster');
  private owed = false;
  private again = false;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    /** Writes this node back into the index; rejects when it could not finish. */
    private readonly run: (reason: string) => Promise<void>,
    /** Counts a failed run. */
    private readonly failed: (error: unknown) => void,
  ) {}

  /** Whether a write-back is owed (a write failed, or a run failed) and not yet done. */
  get isOwed(): boolean {
    return this.owed;
  }

  /** The run in progress, if any (tests and shutdown await it). */
  get inProgress(): Promise<void> | null {
    return this.running;
  }

  /** Marks a write-back as owed without starting it now (the next liveness tick starts it). */
  owe(): void {
    this.owed = true;
  }

  /** Starts a write-back now, or right after the one running. */
  schedule(reason: string): void {
    if (this.stopped) return;
    this.owed = true;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.attempt(reason).finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.schedule(reason);
      }
    });
  }

  /** No further runs start. */
  stop(): void {
    this.stopped = true;
  }

  private async attempt(reason: string): Promise<void> {
    this.owed = false;
    try {
      await this.run(reason);
    } catch (error) {
      this.failed(error);
      this.owed = true;
      this.logger.warn(`resync failed, will retry: ${(error as Error).message}`);
    }
  }
}
