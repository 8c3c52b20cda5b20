import { Controller, Get, Header } from '@nestjs/common';
import { DEMO_PAGE_HTML } from './demo-page.html';
import { PLAIN_PAGE_HTML } from './plain-page.html';

/** The demo pages: plain HTML and JS, no build step. */
@Controller()
export class DemoPageController {
  /** `GET /`: the demo page, on the official client (resume and recovery). */
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return DEMO_PAGE_HTML;
  }

  /** `GET /plain`: the seed's page, on a bare WebSocket (the plain protocol: init frame, raw messages). */
  @Get('plain')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  plain(): string {
    return PLAIN_PAGE_HTML;
  }
}
