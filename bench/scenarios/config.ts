/** Settings of one bench run (quick or full, plus command-line overrides). */
export interface BenchConfig {
  mode: 'quick' | 'full';
  /** Clients per scenario. */
  n: number;
  /** Times each measurement is repeated (medians are reported). */
  repeats: number;
  /** Group sends of the burst. */
  sends: number;
  /** Approximate size of a bench message, bytes. */
  bytes: number;
  /** HTTP push: request rates tried, in order, stopping at the first one not held. */
  httpRates: number[];
  /** HTTP push: seconds per rate step. */
  stepSeconds: number;
  /** HTTP push: a step whose POST→delivery p99 passes this is not held ("p99 exploded"). */
  p99LimitMs: number;
  /** HTTP push: the rate whose latencies are the headline figures. */
  headlineRate: number;
  /** Extra `PushModule.forRoot` options (JSON) for our bench server, to compare settings. */
  oursOptions: string | null;
  verbose: boolean;
}

export const SERVER_KINDS = ['ours', 'ws', 'socketio'] as const;
export type Kind = (typeof SERVER_KINDS)[number];

export const KIND_LABEL: Record<Kind, string> = { ours: 'ours', ws: 'raw ws', socketio: 'socket.io' };
