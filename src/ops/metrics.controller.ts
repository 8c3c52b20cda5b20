import { Controller, Get, Res } from '@nestjs/common';
import { Registry } from 'prom-client';

/** The one call both Express's `res` and Fastify's `reply` have. */
interface HeaderSetter {
  header(name: string, value: string): unknown;
}

/** `GET /metrics`: this node's push metrics in Prometheus text format (see the README's "Metrics"). */
@Controller()
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  /** The registry's exposition, with the registry's own content type. Counts only: no client_id, uid or group. */
  @Get('metrics')
  async metrics(@Res({ passthrough: true }) res: HeaderSetter): Promise<string> {
    res.header('Content-Type', this.registry.contentType);
    return this.registry.metrics();
  }
}
