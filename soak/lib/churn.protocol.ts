/** What the orchestrator and the churn process (`churn.worker.ts`) exchange over IPC. */

export interface ChurnConfig {
  /** WebSocket URLs of the gateway nodes; churner n connects to `gateways[n % length]`. */
  gateways: string[];
  /** HTTP bases a churner may log in, bind and join through (one picked at random per churner). */
  httpNodes: string[];
  /** New churn sockets per second. */
  perSecond: number;
  /** Mean life of a churn socket from its open (racers included; the others live uniformly over 0…2×their mean). */
  meanLifetimeMs: number;
  /** Share of churners that also `POST /join` a second group after their bind. */
  joinRatio: number;
  /**
   * Share of churners that close while their bind (half of them) or their join (the other half) is in flight,
   * within `raceWindowMs` of sending it: a close racing the write into the index, where entries leak.
   */
  raceRatio: number;
  raceWindowMs: number;
  /** Churners bind with group `room-<n % rooms>` and join `topic-<n % topics>`. */
  rooms: number;
  topics: number;
  /** Churner n logs in as `<uidPrefix><n>`. */
  uidPrefix: string;
  /** Safety cap: no new socket while this many are open or opening (counted as throttled). */
  maxOpen: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
}

export interface ChurnProgress {
  elapsedMs: number;
  opened: number;
  /** Sockets opening or open right now. */
  open: number;
  cut: number;
  errors: number;
}

/** A churn socket the server closed before the churner did. */
export interface ChurnCut {
  uid: string;
  clientId: string;
  gateway: string;
  code: number;
  reason: string;
  /** Epoch ms of the close event. */
  at: number;
  /** How long it had been open. */
  ageMs: number;
  /** Its planned life (-1 for a racer, which closes during its request). */
  lifetimeMs: number;
  bound: boolean;
  /** Time since the last ping the server sent it (null: never pinged). */
  lastPingAgoMs: number | null;
}

export interface ChurnReport {
  durationMs: number;
  /** Sockets created. */
  opened: number;
  /** Of those, racers (closed while their bind or join was in flight). */
  racers: number;
  /** Sockets whose upgrade succeeded. */
  connected: number;
  /** Sockets that received their init frame. */
  inited: number;
  logins: number;
  /** `POST /bind` answered 200 while the socket was still open. */
  bound: number;
  /** `POST /join` answered 200 while the socket was still open. */
  joined: number;
  /** Requests answered after the churner had started closing (200, 403 or 404 are all fine then). */
  racedClose: number;
  /** Of those, binds or joins the app still answered 200: the close raced the write into the index. */
  racedCloseOk: number;
  closedClean: number;
  closedAbrupt: number;
  /** Sockets the server closed before the churner meant to (healthy clients cut). */
  cut: number;
  cutCodes: Record<string, number>;
  cuts: ChurnCut[];
  /** Upgrades refused or failed, requests that failed while the socket was open, network errors, timeouts. */
  errors: number;
  errorSamples: string[];
  /** close(1000) sent but the server never finished the close handshake within the drain bound. */
  unansweredCloses: number;
  /** Frames other than the init frame (churners are never pushed to). */
  unexpectedFrames: number;
  /** Creations skipped because `maxOpen` sockets were already open (the server was not keeping up). */
  throttled: number;
  maxOpen: number;
  /** Time-weighted mean of sockets open or opening while the churn ran (ramp-up included, drain not). */
  meanOpen: number;
  /** Latency of the churners' HTTP requests. */
  httpP50Ms: number;
  httpP99Ms: number;
  /** Longest event-loop delay of the churn process (a stalled client would explain late pongs). */
  eventLoopMaxMs: number;
  /** Requests sent again after a keep-alive race (see `AppRequest.retryStaleSocket`). */
  staleSocketRetries: number;
}
