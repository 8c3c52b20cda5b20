// The one place this subpath loads prom-client (an optional peer dependency of nest-push-channel): the main entry
// never reaches this file, so an app without prom-client installed never loads it.
export { Counter, Gauge, Histogram } from 'prom-client';
