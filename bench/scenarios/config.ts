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
  /** Cluster scenario: masters of its Redis Cluster (`--cluster-masters`). */
  clusterMasters: number;
  /**
   * Cluster scenario, spread variant: the clients are split over this many groups (`spread-0`…) and every round
   * of the burst sends one message to each of them (`--cluster-groups`).
   */
  clusterGroups: number;
  /** Resume storm: groups the clients are split over (`--storm-groups`; each client in one, by uid number mod G). */
  stormGroups: number;
  /** Resume storm: messages a second the push-only node sends (`--storm-rate`). */
  stormRate: number;
  /** Resume storm: share of those sent to a group, the rest to a uid (`--storm-group-share`). */
  stormGroupShare: number;
  /** Resume storm: the clients' first reconnect waits a random time in [0, this) ms (`--storm-backoff-ms`). */
  stormBackoffMs: number;
  /**
   * Resume storm: a directory where the surviving node's CPU profiles are written (`--storm-profile=DIR`): its fresh
   * connects + binds and the storm window, per repeat. Off by default (profiling costs a few % of CPU).
   */
  stormProfileDir: string | null;
  /** Extra `PushModule.forRoot` options (JSON) for our bench server, to compare settings. */
  oursOptions: string | null;
  verbose: boolean;
}

export const SERVER_KINDS = ['ours', 'ws', 'socketio'] as const;
export type Kind = (typeof SERVER_KINDS)[number];

export const KIND_LABEL: Record<Kind, string> = { ours: 'ours', ws: 'raw ws', socketio: 'socket.io' };

/**
 * The example app's HTTP platforms (`HTTP_PLATFORM`), plus `fastify-fix`: Fastify with its content-type parser fix
 * applied in the bench server (an experiment, only when asked for; see servers/fastify-parser-fix.ts).
 */
export const APP_PLATFORMS = ['express', 'fastify', 'fastify-fix'] as const;
export type AppPlatform = (typeof APP_PLATFORMS)[number];

/**
 * Servers of the HTTP-push scenario: our example app once per platform (`ours` = Express, as before, so earlier
 * result lines compare), and the references.
 */
export type HttpKind = 'ours' | 'ours-fastify' | 'ours-fastify-fix' | Exclude<Kind, 'ours'>;

export const HTTP_KIND_LABEL: Record<HttpKind, string> = {
  ours: 'app (Express)',
  'ours-fastify': 'app (Fastify)',
  'ours-fastify-fix': 'app (Fastify, parser fix)',
  ws: 'http+ws',
  socketio: 'socket.io',
};

/** The HTTP-push server of our example app on `platform`. */
export function appKind(platform: AppPlatform): HttpKind {
  return platform === 'express' ? 'ours' : platform === 'fastify' ? 'ours-fastify' : 'ours-fastify-fix';
}

/** The app-server arguments of one of our HTTP-push kinds, or null for a reference. */
export function appServerArgs(kind: HttpKind): string[] | null {
  if (kind === 'ours') return ['--platform=express'];
  if (kind === 'ours-fastify') return ['--platform=fastify'];
  if (kind === 'ours-fastify-fix') return ['--platform=fastify', '--parser-fix'];
  return null;
}
