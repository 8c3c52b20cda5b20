import type { Type } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { PushGatewayHost } from './push-gateway.host';

/**
 * Decorates a fresh subclass of the gateway with its path and port. Decorator arguments are fixed when the
 * decorator runs, so a configurable path needs a class made when `forRoot` runs; it inherits the host's
 * constructor and injection metadata.
 */
export function createPushGateway(path: string, port: number): Type<PushGatewayHost> {
  @WebSocketGateway(port, { path })
  class PushGateway extends PushGatewayHost {
    static override readonly endpoint = { path, port };
  }
  return PushGateway;
}
