/**
 * `nest-push-channel/health`: a `@nestjs/terminus` health indicator for the push channel (terminus is an optional
 * peer dependency: `npm install @nestjs/terminus`).
 */
export { PushHealthIndicator, type PushHealthOptions, type PushHealthDetails } from './push-health.indicator';
