import type * as Terminus from '@nestjs/terminus';
import { OPTIONAL_PEERS, requireOptionalPeer } from '../util/optional-peer';

// The one place this subpath loads @nestjs/terminus (an optional peer dependency of nest-push-channel): the main
// entry never reaches this file, so an app without terminus installed never loads it; an app that imports the
// subpath without it fails with PushMissingPeerError (what to install) instead of "Cannot find module".
const terminus = requireOptionalPeer<typeof Terminus>(OPTIONAL_PEERS.terminus);

/** terminus's `HealthIndicatorService`: a value (the injection token) and a type, as the class itself is. */
export const HealthIndicatorService = terminus.HealthIndicatorService;
export type HealthIndicatorService = Terminus.HealthIndicatorService;
export type { HealthIndicatorResult } from '@nestjs/terminus';
