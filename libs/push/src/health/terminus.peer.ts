// The one place this subpath loads @nestjs/terminus (an optional peer dependency of nest-push-channel): the main
// entry never reaches this file, so an app without terminus installed never loads it.
export { HealthIndicatorService } from '@nestjs/terminus';
export type { HealthIndicatorResult } from '@nestjs/terminus';
