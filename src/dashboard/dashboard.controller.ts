import { Controller, Get, Header } from '@nestjs/common';
import { type NodeStats, PushService } from 'nest-push-channel';
import { DASHBOARD_PAGE_HTML } from './dashboard-page.html';

/** What `GET /dashboard/stats` answers. */
export interface DashboardStats {
  /** The node that answered (its id), so the page can mark it. */
  node: string;
  /** When it answered, ms since the epoch on its clock. */
  time: number;
  /** The latest snapshot of every node that publishes (`PushService.getClusterStats()`), sorted by node id. */
  nodes: NodeStats[];
}

/**
 * The live cluster dashboard: a page that polls `/dashboard/stats` and draws per-node charts. No auth: it shows
 * node ids and counts, nothing that identifies a user or a connection (set `DASHBOARD=off` to remove both routes,
 * or put them behind your own guard).
 */
@Controller('dashboard')
export class DashboardController {
  constructor(private readonly push: PushService) {}

  /** `GET /dashboard`: the page (plain HTML and JS, charts drawn on canvas, no build step, nothing from a CDN). */
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(): string {
    return DASHBOARD_PAGE_HTML;
  }

  /**
   * `GET /dashboard/stats` → `{node, time, nodes: NodeStats[]}`. 503 `engine_unavailable` (the module's JSON error)
   * when the engine cannot be reached.
   */
  @Get('stats')
  @Header('Cache-Control', 'no-store')
  async stats(): Promise<DashboardStats> {
    const nodes = await this.push.getClusterStats();
    return { node: this.push.nodeId, time: Date.now(), nodes };
  }
}

/** The dashboard's controllers when `DASHBOARD` is on (the app module spreads this into its controller list). */
export function dashboardControllers(enabled: boolean): (typeof DashboardController)[] {
  return enabled ? [DashboardController] : [];
}
