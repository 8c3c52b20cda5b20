/**
 * The numbered pushes, through the app's own `POST /send` as business code would: one loop per channel (the
 * watchers' group, and each watcher's uid), each sending its next number only once the previous one was answered,
 * so the order the watchers must see is the order the app accepted them in. The loops are paced to a fixed total
 * rate; a slow answer delays that channel only.
 */
import type { Agent } from 'node:http';
import { appRequest, describeReply } from './app-http';
import type { Channel, NumberedPush } from './watchers.protocol';

export interface PusherConfig {
  /** The node every push goes through (the push-only node on Redis). */
  base: string;
  /** Login cookie of the pushing uid. */
  cookie: string;
  /** The watchers' uids (one uid channel each). */
  uids: string[];
  group: string;
  groupPerSecond: number;
  /** Total over all uid channels. */
  uidPerSecond: number;
  requestTimeoutMs: number;
}

export interface PusherSummary {
  groupSent: number;
  uidSent: number;
  /** Pushes answered with an error status, or not answered at all. */
  errors: number;
  /** Pushes answered 200 with a `delivered` other than the audience (1 for a uid, every watcher for the group). */
  wrongDelivered: number;
  samples: string[];
  /** Pushes per second actually issued. */
  rate: number;
}

const MAX_SAMPLES = 10;

export class Pusher {
  private stopped = false;
  private readonly wake = new Set<() => void>();
  private loops: Promise<void>[] = [];
  private startedAt = 0;
  private stoppedAt = 0;
  /** Send time (epoch ms) of each number, per channel key (`g`, or `u:<uid>`); index = seq − 1. */
  private readonly sentAt = new Map<string, number[]>();
  private readonly summary: PusherSummary = {
    groupSent: 0,
    uidSent: 0,
    errors: 0,
    wrongDelivered: 0,
    samples: [],
    rate: 0,
  };

  constructor(
    private readonly agent: Agent,
    private readonly config: PusherConfig,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    const { uids, groupPerSecond, uidPerSecond } = this.config;
    this.loops.push(this.run('g', null, 1000 / groupPerSecond, 0));
    const every = (1000 * uids.length) / uidPerSecond;
    // Staggered, so the uid pushes are spread evenly instead of arriving 50 at a time.
    uids.forEach((uid, i) => this.loops.push(this.run('u', uid, every, (every * i) / uids.length)));
  }

  /** Stops issuing pushes and waits for the ones in flight (each bounded by the request timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stoppedAt = Date.now();
    for (const wake of [...this.wake]) wake();
    await Promise.all(this.loops);
  }

  /** Highest number issued, per watcher and channel (what each watcher must have received). */
  sent(): Record<string, Record<Channel, number>> {
    const group = this.sentAt.get('g')?.length ?? 0;
    const out: Record<string, Record<Channel, number>> = {};
    for (const uid of this.config.uids) out[uid] = { u: this.sentAt.get(`u:${uid}`)?.length ?? 0, g: group };
    return out;
  }

  /** When number `seq` of a watcher's channel was issued (epoch ms). */
  sentTime(uid: string, channel: Channel, seq: number): number {
    return this.sentAt.get(channel === 'g' ? 'g' : `u:${uid}`)?.[seq - 1] ?? NaN;
  }

  result(): PusherSummary {
    const seconds = Math.max(0.001, ((this.stoppedAt || Date.now()) - this.startedAt) / 1000);
    return { ...this.summary, rate: Math.round(((this.summary.groupSent + this.summary.uidSent) / seconds) * 10) / 10 };
  }

  private async run(channel: Channel, uid: string | null, everyMs: number, offsetMs: number): Promise<void> {
    const key = channel === 'g' ? 'g' : `u:${uid}`;
    const times: number[] = [];
    this.sentAt.set(key, times);
    await this.sleep(offsetMs);
    let next = Date.now();
    while (!this.stopped) {
      const seq = times.length + 1;
      times.push(Date.now());
      const data: NumberedPush = uid === null ? { ch: 'g', seq } : { ch: 'u', seq, to: uid };
      const target = uid === null ? { group: this.config.group } : { uid };
      const expected = uid === null ? this.config.uids.length : 1;
      if (uid === null) this.summary.groupSent++;
      else this.summary.uidSent++;
      try {
        const reply = await appRequest(this.agent, this.config.base, 'POST', '/send', {
          cookie: this.config.cookie,
          body: { ...target, message: data },
          timeoutMs: this.config.requestTimeoutMs,
        });
        if (reply.status !== 200) this.note('errors', `${key} #${seq}: ${describeReply(reply)}`);
        else if (reply.body?.delivered !== expected) {
          this.note('wrongDelivered', `${key} #${seq}: delivered ${reply.body?.delivered}, expected ${expected}`);
        }
      } catch (error) {
        this.note('errors', `${key} #${seq}: ${(error as Error).message}`);
      }
      // A late answer moves the schedule on rather than being made up for with a burst.
      next = Math.max(next + everyMs, Date.now());
      await this.sleep(next - Date.now());
    }
  }

  private note(kind: 'errors' | 'wrongDelivered', sample: string): void {
    this.summary[kind]++;
    if (this.summary.samples.length < MAX_SAMPLES) this.summary.samples.push(sample);
  }

  /** A sleep that `stop()` cuts short. */
  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.add(done);
    });
  }
}
