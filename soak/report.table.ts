/** The soak's summary per engine as plain-text tables (the CLI prints it; the Jest test shows it on failure). */
import { fmtCodes, type SoakReport } from './soak.report';

export function formatReport(report: SoakReport): string {
  const { churn, pushes, watchers, index, shape } = report;
  const verdict = report.failures.length ? `FAIL (${report.failures.length})` : 'PASS';
  const rows: [string, string][] = [];
  const row = (metric: string, value: string) => rows.push([metric, value]);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  row('nodes', report.nodes.map((n) => `${n.name} ${n.role} (pid ${n.pid})`).join(', ') || '-');
  row('heartbeat (interval / timeout)', shape.heartbeat + (shape.nodeTtlMs ? `, node TTL ${shape.nodeTtlMs} ms` : ''));
  if (churn) {
    row('load duration', seconds(churn.durationMs));
    row(
      'churn sockets opened',
      `${n(churn.opened)} (${(churn.opened / Math.max(1, churn.durationMs / 1000)).toFixed(1)}/s, asked ${shape.churnPerSecond}/s); ` +
        `open at once: mean ${churn.meanOpen.toFixed(0)}, max ${churn.maxOpen}` +
        (churn.throttled ? `; ${n(churn.throttled)} skipped (too many open)` : ''),
    );
    row(
      'churn closes: clean / abrupt',
      `${n(churn.closedClean)} / ${n(churn.closedAbrupt)}; ${n(churn.racers)} of the sockets closed during their bind or join`,
    );
    row(
      'churn logins / binds / joins',
      `${n(churn.logins)} / ${n(churn.bound)} / ${n(churn.joined)}; answered after the close: ${n(churn.racedClose)} ` +
        `(${n(churn.racedCloseOk)} of them 200)`,
    );
    row(
      'churn HTTP latency p50 / p99',
      `${churn.httpP50Ms} / ${churn.httpP99Ms} ms; sent again after a keep-alive race: ${churn.staleSocketRetries}`,
    );
    row('churn sockets cut by the server', churn.cut ? `${churn.cut} (codes ${fmtCodes(churn.cutCodes)})` : '0');
    row('churn errors', String(churn.errors + churn.unansweredCloses + churn.unexpectedFrames));
  }
  if (pushes) {
    row(
      'pushes issued: group / uid',
      `${n(pushes.groupSent)} / ${n(pushes.uidSent)} (${pushes.rate}/s); failed ${pushes.errors}, wrong delivered count ${pushes.wrongDelivered}`,
    );
  }
  if (watchers) {
    const per = (total: number) => (total / Math.max(1, watchers.count)).toFixed(1);
    const { u, g } = watchers.channels;
    row(
      'per watcher: expected / received',
      `group ${per(g.expected)} / ${per(g.received)}, uid ${per(u.expected)} / ${per(u.received)} (${watchers.count} watchers)`,
    );
    row(
      'lost / duplicated / out of order',
      `${u.lost + g.lost} / ${u.duplicated + g.duplicated} / ${u.outOfOrder + g.outOfOrder}` +
        (u.lostAfterCut + g.lostAfterCut ? ` (${u.lostAfterCut + g.lostAfterCut} lost after their watcher was cut)` : '') +
        (watchers.misdelivered ? `; misdelivered ${watchers.misdelivered}` : ''),
    );
    const codes: Record<string, number> = {};
    for (const cut of watchers.cut) codes[cut.code] = (codes[cut.code] ?? 0) + 1;
    row('watchers cut (close codes)', watchers.cut.length ? `${watchers.cut.length} (${fmtCodes(codes)})` : '0');
    row(
      'heartbeat as the watchers saw it',
      `≥ ${watchers.minPings} pings each, longest gap ${seconds(watchers.maxPingGapMs)}, ${watchers.latePings} over 1.5× the interval; ` +
        `watchers' event loop max delay ${watchers.eventLoopMaxMs} ms`,
    );
  }
  if (index.during.samples) {
    row(
      '/stats during the churn',
      `${index.during.samples} samples, clients ${index.during.minClients}..${index.during.maxClients}, ` +
        `max excess over watchers + churn open ${index.during.maxExcess}`,
    );
  }
  row('/stats before the churn', JSON.stringify(index.baseline));
  row(
    'final /stats',
    index.checked
      ? `${JSON.stringify(index.final)} ${index.settledAfterMs === null ? `NOT ${JSON.stringify(index.expected)}` : `(settled in ${seconds(index.settledAfterMs)})`}`
      : 'not reached',
  );
  for (const [what, diff] of [
    ['Redis index keys before / after', index.keys],
    ['Redis subscribed channels before / after', index.channels],
  ] as const) {
    if (!diff) continue;
    const changed = diff.extra.length || diff.missing.length;
    row(what, `${diff.before} / ${diff.after}` + (changed ? ` (${diff.extra.length} extra, ${diff.missing.length} missing)` : ''));
  }
  row('wall time (setup and checks included)', seconds(report.wallMs));

  const out = [`== ${report.engine} engine: ${verdict} ==`, table(['metric', 'value'], rows)];
  const rss = report.rss;
  if (rss.verdicts.length) {
    out.push(
      `RSS (MiB; floor = lowest sample of the first ${seconds(rss.windowMs)} after a ${seconds(rss.warmupMs)} warm-up, ` +
        `and of the last ${seconds(rss.windowMs)}; growth of the floor judged, limit ${rss.limitMib} MiB per node process)`,
      table(
        ['process', 'floor first', 'floor last', 'growth', 'median first', 'median last', 'max', 'judged', 'trend over the load'],
        rss.verdicts.map((v) => [
          v.name,
          f1(v.firstMib),
          f1(v.lastMib),
          f1(v.growthMib),
          f1(v.firstMedianMib),
          f1(v.lastMedianMib),
          f1(v.maxMib),
          v.judged ? 'yes' : 'shown only',
          v.trend.map((mib) => mib.toFixed(0)).join(' → '),
        ]),
      ),
    );
  }
  if (report.failures.length) out.push('Failures:', ...report.failures.map((line) => `  - ${line}`));
  if (report.warnings.length) out.push('Warnings (not assertions):', ...report.warnings.map((line) => `  - ${line}`));
  const evidence = [
    ...(watchers?.evidence ?? []),
    ...(churn?.cuts ?? []).slice(0, 8).map(
      (c) =>
        `${c.uid} on ${c.gateway}: cut ${c.code}${c.reason ? ` "${c.reason}"` : ''} after ${seconds(c.ageMs)} ${c.lifetimeMs < 0 ? '(a racer)' : `of a planned ${seconds(c.lifetimeMs)}`}, ` +
        `${c.bound ? 'bound' : 'not bound'}, ${c.lastPingAgoMs === null ? 'never pinged' : `${seconds(c.lastPingAgoMs)} after its last ping`}`,
    ),
    ...(churn?.errorSamples ?? []).slice(0, 8),
    ...(pushes?.samples ?? []).slice(0, 5),
    ...index.belowWatchers,
    ...index.during.errors,
    ...(index.keys?.extra ?? []).slice(0, 8).map((key) => `extra Redis key after the run: ${key}`),
    ...(index.keys?.missing ?? []).slice(0, 8).map((key) => `Redis key missing after the run: ${key}`),
    ...(index.channels?.extra ?? []).slice(0, 8).map((ch) => `still subscribed after the run: ${ch}`),
    ...(index.channels?.missing ?? []).slice(0, 8).map((ch) => `no longer subscribed after the run: ${ch}`),
  ];
  if (evidence.length) out.push('Evidence:', ...evidence.map((line) => `  ${line}`));
  if (report.serverErrors.length) out.push('Server log lines at error/warning level:', ...report.serverErrors.map((l) => `  ${l}`));
  if (report.error) out.push('Run error:', report.error.split('\n').slice(0, 40).map((l) => `  ${l}`).join('\n'));
  return out.join('\n');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function n(value: number): string {
  return value.toLocaleString('en-US');
}

function f1(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : '-';
}
