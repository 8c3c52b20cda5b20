import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { PushService, type JsonValue, type PushTarget, type SendResult } from 'nest-push-channel';
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

/** The `PushService.send` target a validated body chose. */
function targetOf(body: SendDto): PushTarget {
  switch (sendTarget(body)) {
    case 'uid':
      return { uid: body.uid! };
    case 'group':
      return { group: body.group! };
    case 'client_id':
      return { clientId: body.client_id! };
    case 'all':
      return { all: true };
  }
}

/** Business code that notifies people: here, a user sends a message to a uid, a group, a client or everyone. */
@Controller()
@UseGuards(LoggedInGuard)
export class MessageController {
  constructor(private readonly push: PushService) {}

  /**
   * `POST /send` with exactly one of `uid`, `group`, `client_id` or `all: true`, plus `message` (see `SendDto`).
   * Answers `{"delivered": n, "held": m}`: how many connections it was written to, and how many dropped connections
   * of the official client it is held for (they receive it if they resume within the window).
   */
  @Post('send')
  @HttpCode(200)
  async send(@Body() body: SendDto, @CurrentUid() from: string): Promise<SendResult> {
    const push: ChatPush = { type: 'message', from, data: body.message };
    const { delivered, held } = await this.push.send(targetOf(body), push);
    return { delivered, held };
  }
}
