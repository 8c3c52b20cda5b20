export * from './interfaces';
export { PushModule } from './push.module';
export { PUSH_MODULE_OPTIONS } from './push.module-definition';
export { PUSH_DEFAULTS } from './push.constants';
export { PushService, type SendOptions, type SendToAllOptions, type SendToGroupOptions } from './push.service';
export { type ResolvedPushOptions, type ResolvedResumeOptions } from './push-options';
export { PushEvents } from './push-events.service';
export {
  PushMetrics,
  type PushMetricsSnapshot,
  type PushGaugeSource,
  type PushFanoutObserver,
} from './push-metrics.service';
export type { NodeStats } from './stats/node-stats.interface';
export { NodeStatsPublisher } from './stats/node-stats.publisher';
export { PushLifecycle, type PushEndpoint } from './push-lifecycle.service';
export {
  PushEngine,
  type PushEngineContext,
  type PushEngineHealth,
  type InitialBinding,
  type AdoptResult,
  type AdoptedRecord,
} from './engine/push.engine';
export { MemoryEngine } from './engine/memory.engine';
export type { RedisEngineOptions, RedisConnectionOptions } from './engine/redis/redis-engine.options';
export { LocalRegistry, type LocalRegistryLimits, type DeliveryCount } from './local/local-registry';
export { joinedAt, LocalConnection, type ResumeState, type ServerCloseReason } from './local/local-connection';
export { MemoryHistory } from './history/memory-history';
export type { HistoryEntry, HistoryLimits, HistoryRead, HistoryReadResult } from './history/history.interface';
export { formatOffset, parseOffset, type HistoryOffset } from './history/history-offset';
export { targetKey, connectionTargets, type TargetRef } from './history/target-key';
export {
  PUSH_PROTOCOL,
  PushCloseCode,
  MAX_HELLO_CURSORS,
  envelopeOf,
  withEntry,
  type ResumeRefusal,
  type Welcome,
} from './resume/push-protocol';
export { serialWrite, serialWriteAll, MAX_PENDING_WRITES, type WriteQueue } from './local/connection-writes';
export { EncodedMessage } from './message/encoded-message';
export { PushWsAdapter } from './gateway/push-ws.adapter';
export { PushGatewayHost, type PushFrameErrorCode } from './gateway/push-gateway.host';
export { isClientId, nodeIdOf, CLIENT_ID_LENGTH } from './identity/client-id';
export { originMatcher } from './util/origin-matcher';
export { isWellFormedString } from './util/well-formed';
export { PushMissingPeerError, type OptionalPeer } from './util/optional-peer';
export {
  PushClientNotFoundError,
  PushEngineUnavailableError,
  PushInvalidArgumentError,
  PushLimitExceededError,
  isPushError,
  type PushErrorCode,
  type PushLimitCode,
} from './errors/push.errors';
export { LocalNode, type LocalDelivery, type HistoryStamp } from './engine/local-node';
export { ClusterEngine, type ClusterBackend, type ClusterTimings } from './engine/cluster/cluster.engine';
export type { ClusterTransport, ClusterRoute } from './engine/cluster/cluster-transport';
export type {
  ClusterDirectory,
  ConnectionRecord,
  ConnectionBindings,
  DirectoryAdoption,
  NodeStatsEntry,
  ResumableFields,
  SinceField,
} from './engine/cluster/cluster-directory';
export type { ClusterHistory, RecordedCount, RecordedMessage } from './engine/cluster/cluster-history';
export {
  CLUSTER_PROTOCOL_VERSION,
  ClusterVersionError,
  encodeClusterMessage,
  decodeClusterMessage,
  type ClusterMessage,
  type ClusterMessageBody,
  type ClusterOp,
  type HolderCall,
  type AdoptReply,
  openClusterHeader,
} from './engine/cluster/cluster-message';
export { RedisKeys } from './engine/redis/redis-keys';
