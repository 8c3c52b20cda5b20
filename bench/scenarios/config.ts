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
  /** HTTP push: steps that bisect between the last rate held and the first one not held. */
  httpBisect: number;
  /** HTTP push: seconds per rate step. */
  stepSeconds: number;
  /** HTTP push: a step whose POST→delivery p99 passes this is not held ("p99 exploded"). */
  p99LimitMs: number;
  /** HTTP push: the rate whose latencies are the headline figures. */
  headlineRate: number;
  /** HTTP push: the HTTP platforms our example app is measured on (`--http-platforms`), each its own server. */
  httpPlatforms: AppPlatform[];
  /** Extra `PushModule.forRoot` options (JSON) for our bench server, to compare settings. */
  oursOptions: string | null;
  verbose: boolean;
}

export const SERVER_KINDS = ['ours', 'ws', 'socketio'] as const;
export type Kind = (typeof SERVER_KINDS)[number];

export const KIND_LABEL: Record<Kind, string> = { ours: 'ours', ws: 'raw ws', socketio: 'socket.io' };

/** The example app's HTTP platforms (`HTTP_PLATFORM`). */
export const APP_PLATFORMS = ['express', 'fastify'] as const;
export type AppPlatform = (typeof APP_PLATFORMS)[number];

/**
 * Servers of the HTTP-push scenario: our example app once per platform (`ours` = Express, as before, so earlier
 * result lines compare), and the references.
 */
export type HttpKind = 'ours' | 'ours-fastify' | Exclude<Kind, 'ours'>;

export const HTTP_KIND_LABEL: Record<HttpKind, string> = {
  ours: 'app (Express)',
  'ours-fastify': 'app (Fastify)',
  ws: 'http+ws',
  socketio: 'socket.io',
};

/** The HTTP-push server of our example app on `platform`. */
export function appKind(platform: AppPlatform): HttpKind {
  return platform === 'express' ? 'ours' : 'ours-fastify';
}
