import { Body, Controller, ForbiddenException, HttpCode, Post, UseGuards } from '@nestjs/common';
import { PushClientNotFoundError, PushService } from 'nest-push-channel';
import { CurrentUid } from '../auth/current-uid.decorator';
import { LoggedInGuard } from '../auth/logged-in.guard';
import { BindDto } from './dto/bind.dto';
import { GroupMembershipDto } from './dto/group-membership.dto';
import { UnbindDto } from './dto/unbind.dto';

/**
 * Where a page hands over the client_id its socket received, so the backend can bind it to the logged-in user.
 * Holding a client_id is the proof that the page owns that socket (ids are unguessable).
 */
@Controller()
@UseGuards(LoggedInGuard)
export class BindController {
  constructor(private readonly push: PushService) {}

  /** `POST /bind {client_id, group?}`: binds the logged-in uid (and joins `group` when given). */
  @Post('bind')
  @HttpCode(200)
  async bind(@Body() { client_id: clientId, group }: BindDto, @CurrentUid() uid: string) {
    const previous = await this.push.getUidByClientId(clientId);
    if (previous !== null && previous !== uid) await this.leaveAll(clientId); // a new user must not inherit groups
    await this.push.bindUid(clientId, uid);
    if (group !== undefined) await this.push.joinGroup(clientId, group);
    return { client_id: clientId, uid, groups: await this.push.getGroupsByClientId(clientId) };
  }

  /** `POST /unbind {client_id}`: detaches one of the user's own connections from the uid and from every group. */
  @Post('unbind')
  @HttpCode(200)
  async unbind(@Body() { client_id: clientId }: UnbindDto, @CurrentUid() uid: string) {
    await this.requireOwner(clientId, uid);
    await this.leaveAll(clientId);
    await this.push.unbindUid(clientId);
    return { client_id: clientId, uid: null, groups: [] };
  }

  /** `POST /join {client_id, group}`: adds one of the user's own connections to a group. */
  @Post('join')
  @HttpCode(200)
  async join(@Body() { client_id: clientId, group }: GroupMembershipDto, @CurrentUid() uid: string) {
    await this.requireOwner(clientId, uid);
    await this.push.joinGroup(clientId, group);
    return { client_id: clientId, groups: await this.push.getGroupsByClientId(clientId) };
  }

  /** `POST /leave {client_id, group}`: removes one of the user's own connections from a group. */
  @Post('leave')
  @HttpCode(200)
  async leave(@Body() { client_id: clientId, group }: GroupMembershipDto, @CurrentUid() uid: string) {
    await this.requireOwner(clientId, uid);
    await this.push.leaveGroup(clientId, group);
    return { client_id: clientId, groups: await this.push.getGroupsByClientId(clientId) };
  }

  private async leaveAll(clientId: string): Promise<void> {
    for (const group of await this.push.getGroupsByClientId(clientId)) await this.push.leaveGroup(clientId, group);
  }

  private async requireOwner(clientId: string, uid: string): Promise<void> {
    const owner = await this.push.getUidByClientId(clientId);
    if (owner !== uid) {
      if (owner === null && !(await this.push.isOnline(clientId))) throw new PushClientNotFoundError(clientId);
      throw new ForbiddenException({
        statusCode: 403,
        error: 'Forbidden',
        message: 'client_id is not bound to you: POST /bind first',
      });
    }
  }
}
