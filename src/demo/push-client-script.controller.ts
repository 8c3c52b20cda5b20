import { Controller, Get, Header, InternalServerErrorException, Logger } from '@nestjs/common';
import { readPushClientScript } from './push-client-script';

/**
 * `GET /push-client.js`: the official browser client, so a page needs no build step:
 * `import { PushClient } from '/push-client.js'`.
 */
@Controller()
export class PushClientScriptController {
  private readonly script = readPushClientScript();

  constructor() {
    if (this.script === null) {
      new Logger('PushClientScript').error('the browser client is not built: run `npm run build:client`');
    }
  }

  @Get('push-client.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  client(): string {
    if (this.script === null) {
      throw new InternalServerErrorException('the browser client is not built: run `npm run build:client`');
    }
    return this.script;
  }
}
