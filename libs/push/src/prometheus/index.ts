/**
 * `nest-push-channel/prometheus`: the module's metrics in Prometheus exposition format, through prom-client (an
 * optional peer dependency: `npm install prom-client`).
 */
export {
  registerPushMetrics,
  PUSH_FANOUT_BUCKETS,
  type PushPrometheusOptions,
  type PushMetricsRegistration,
} from './register-push-metrics';
