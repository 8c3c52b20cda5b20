import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { PushService, type JsonValue } from 'nest-push-channel';
import { CurrentUid } from '../auth/current-uid.decorator';
import { LoggedInGuard } from '../auth/logged-in.guard';
import { SendDto, sendTarget } from './dto/send.dto';

/** The frame every recipient of `POST /send` receives. */
export type ChatPush = {
  type: 'message';
  /** uid of the sender. */
  from: string;
  /** The `message` field of the request, as sent (a string from a form, any JSON value from JSON). */
  data: JsonValue;
};

/** Business code that notifies people: here, a user sends a message to a uid, a group, a client or everyone. */
@Controller()
@UseGuards(LoggedInGuard)
export class MessageController {
  constructor(private readonly push: PushService) {}

  /**
   * `POST /send` with exactly one of `uid`, `group`, `client_id` or `all: true`, plus `message` (see `SendDto`).
   * Answers `{"delivered": n}`: how many connections received it.
   */
  @Post('send')
  @HttpCode(200)
  async send(@Body() body: SendDto, @CurrentUid() from: string): Promise<{ delivered: number }> {
    const push: ChatPush = { type: 'message', from, data: body.message };
    let delivered: number;
    switch (sendTarget(body)) {
      case 'uid':
        delivered = await this.push.sendToUid(body.uid!, push);
        break;
      case 'group':
        delivered = await this.push.sendToGroup(body.group!, push);
        break;
      case 'client_id':
        delivered = await this.push.sendToClient(body.client_id!, push);
        break;
      case 'all':
        delivered = await this.push.sendToAll(push);
        break;
    }
    return { delivered };
  }
}
