import { Controller, Get, Param } from '@nestjs/common';
import { PushService } from 'nest-push-channel';
import { PresenceParamsDto } from './dto/presence-params.dto';

/**
 * Operator endpoints, cluster-wide. They give counts only: client_ids are capabilities and are never listed over
 * HTTP.
 */
@Controller()
export class StatsController {
  constructor(private readonly push: PushService) {}

  /** `GET /stats` → `{clients, uids, groups}`. */
  @Get('stats')
  async stats(): Promise<{ clients: number; uids: number; groups: number }> {
    const [clients, uids, groups] = await Promise.all([
      this.push.getAllClientIdCount(),
      this.push.getAllUidCount(),
      this.push.getAllGroupIdCount(),
    ]);
    return { clients, uids, groups };
  }

  /** `GET /presence/:uid` → `{uid, online, connections}`. */
  @Get('presence/:uid')
  async presence(@Param() { uid }: PresenceParamsDto): Promise<{ uid: string; online: boolean; connections: number }> {
    const connections = (await this.push.getClientIdByUid(uid)).length;
    return { uid, online: connections > 0, connections };
  }
}
