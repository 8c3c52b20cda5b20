import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { PushService, type JsonValue } from 'nest-push-channel';
import { MAX_UID_LENGTH } from '../auth/auth.constants';
import { CurrentUid } from '../auth/current-uid.decorator';
import { LoggedInGuard } from '../auth/logged-in.guard';
import { asBody, badRequest, MAX_CLIENT_ID_FIELD, requiredString } from '../http/body-fields';

const TARGETS = ['uid', 'group', 'client_id', 'all'] as const;

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
   * `POST /send` with exactly one of `uid`, `group`, `client_id` or `all: true`, plus `message`.
   * Answers `{"delivered": n}`: how many connections received it.
   */
  @Post('send')
  @HttpCode(200)
  async send(@Body() raw: unknown, @CurrentUid() from: string): Promise<{ delivered: number }> {
    const body = asBody(raw);
    const given = TARGETS.filter((key) => body[key] !== undefined);
    if (given.length !== 1) {
      throw badRequest('give exactly one of uid, group, client_id or all: true');
    }
    const message = body.message;
    if (message === undefined || message === null || message === '') throw badRequest('message is required');
    const push: ChatPush = { type: 'message', from, data: message as JsonValue };
    let delivered: number;
    switch (given[0]) {
      case 'uid':
        delivered = await this.push.sendToUid(requiredString(body, 'uid', MAX_UID_LENGTH), push);
        break;
      case 'group':
        delivered = await this.push.sendToGroup(requiredString(body, 'group', MAX_UID_LENGTH), push);
        break;
      case 'client_id':
        delivered = await this.push.sendToClient(requiredString(body, 'client_id', MAX_CLIENT_ID_FIELD), push);
        break;
      case 'all':
        if (body.all !== true && body.all !== 'true') throw badRequest('all must be true');
        delivered = await this.push.sendToAll(push);
        break;
    }
    return { delivered };
  }
}
