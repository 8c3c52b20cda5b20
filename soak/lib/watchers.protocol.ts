/** What the orchestrator and the watchers process (`watchers.worker.ts`) exchange over IPC. */
import type { SequenceCheck } from './sequence-check';

/** The two channels every watcher is pushed on: its own uid, and the group all watchers are in. */
export type Channel = 'u' | 'g';

/** The payload of a numbered push (the `data` of the app's `{"type":"message","from",…}` frame). */
export interface NumberedPush {
  ch: Channel;
  seq: number;
  /** The uid a uid-channel push was aimed at (a frame for someone else is misdelivered). */
  to?: string;
}

export interface WatchersConfig {
  watchers: { uid: string; node: string; wsUrl: string; httpBase: string }[];
  group: string;
  /** uid the pushes come from (the `from` of every frame). */
  pusherUid: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** The servers' heartbeat interval: a gap between two pings over 1.5× this is counted as a late ping. */
  heartbeatIntervalMs: number;
}

export interface WatchersStarted {
  clientIds: Record<string, string>;
}

/** Highest number received so far, per watcher and channel (to wait for the last pushes to land). */
export interface WatchersProgress {
  highest: Record<string, Record<Channel, number>>;
  cut: number;
}

/** A watcher the server closed while the soak still meant to keep it. */
export interface WatcherCut {
  code: number;
  reason: string;
  /** Epoch ms of the close event. */
  at: number;
  /** Time since the last ping the server sent it, at the cut (null: never pinged). */
  lastPingAgoMs: number | null;
  /** Highest number received per channel before the cut. */
  highest: Record<Channel, number>;
}

export interface WatcherReport {
  uid: string;
  node: string;
  clientId: string;
  cut: WatcherCut | null;
  channels: Record<Channel, SequenceCheck>;
  /** Frames that were not a numbered push for this watcher (wrong sender, shape, or aimed at another uid). */
  misdelivered: number;
  misdeliveredSamples: string[];
  /** Pings the server sent, and the longest gap between two (heartbeat cadence as this socket saw it). */
  pings: number;
  maxPingGapMs: number;
  /** Epoch ms of the ping that ended the longest gap. */
  maxPingGapAt: number;
  /** Gaps between two pings longer than 1.5× the interval (a visit of the heartbeat skipped). */
  latePings: number;
}

export interface WatchersReport {
  watchers: WatcherReport[];
  /** Longest event-loop delay of the watchers process: near 0 means it answered every ping at once. */
  eventLoopMaxMs: number;
}
