import { Controller, Get, Header } from '@nestjs/common';
import { DEMO_PAGE_HTML } from './demo-page.html';

/** `GET /` serves the demo page (plain HTML and JS, no build step). */
@Controller()
export class DemoPageController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return DEMO_PAGE_HTML;
  }
}
