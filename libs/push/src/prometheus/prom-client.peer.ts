import type * as PromClient from 'prom-client';
import { OPTIONAL_PEERS, requireOptionalPeer } from '../util/optional-peer';

// The one place this subpath loads prom-client (an optional peer dependency of nest-push-channel): the main entry
// never reaches this file, so an app without prom-client installed never loads it; an app that imports the subpath
// without it fails with PushMissingPeerError (what to install) instead of "Cannot find module" and a require stack.
const promClient = requireOptionalPeer<typeof PromClient>(OPTIONAL_PEERS.promClient);

export const { Counter, Gauge, Histogram } = promClient;
