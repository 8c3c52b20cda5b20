/**
 * HTTP sender for the HTTP-push scenario: `POST /send {uid, message}` to single uids, open loop at a fixed rate
 * (requests are issued on schedule whether or not earlier ones were answered), through a keep-alive
 * `http.Agent`. The message carries its send time `t`, so the clients measure POST→delivery.
 */
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { nowMs, percentile } from './lib/common';
import { cookieHeader, postJson } from './lib/http-client';
import { dieOnUncaught, emit, guardChild, serve } from './lib/ipc';

guardChild();

/** Concurrent connections to the server. */
const MAX_SOCKETS = 64;
/** A request not answered within this is an error. */
const REQUEST_TIMEOUT_MS = 5_000;

let agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
let cookie = '';

interface StepArgs {
  baseUrl: string;
  rate: number;
  seconds: number;
  uidCount: number;
  bytes: number;
}

function message(t: number, bytes: number): { t: number; pad: string } {
  const base = JSON.stringify({ t, pad: '' }).length;
  return { t, pad: 'x'.repeat(Math.max(0, bytes - base)) };
}

serve({
  /** Logs in once (our example app guards `/send`); the references ignore the cookie. */
  login: async ({ baseUrl, uid }: { baseUrl: string; uid: string }) => {
    const res = await postJson(agent, new URL(baseUrl), '/login', JSON.stringify({ uid }));
    if (res.status !== 200) throw new Error(`POST /login: ${res.status} ${res.body}`);
    cookie = cookieHeader(res.headers);
    return { cookie: Boolean(cookie) };
  },

  step: ({ baseUrl, rate, seconds, uidCount, bytes }: StepArgs) => {
    const url = new URL(baseUrl);
    const total = Math.round(rate * seconds);
    const headers: Record<string, string> = cookie ? { cookie } : {};
    const httpLatencies: number[] = [];
    const errorSamples: string[] = [];
    let issued = 0;
    let answered = 0;
    let ok = 0;
    let errors = 0;
    let undelivered = 0;
    let deliveredSum = 0;
    let maxLagMs = 0;
    let lastAnswerAt = 0;
    let nextUid = 0;
    const start = performance.now();
    const cpu0 = process.cpuUsage();

    const fail = (text: string) => {
      errors++;
      if (errorSamples.length < 5) errorSamples.push(text);
    };

    return new Promise((resolve) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearInterval(ticker);
        clearTimeout(deadline);
        httpLatencies.sort((a, b) => a - b);
        const elapsedS = Math.max(seconds, (lastAnswerAt - start) / 1000);
        const cpu = process.cpuUsage(cpu0);
        resolve({
          cpuUs: cpu.user + cpu.system,
          rate,
          seconds,
          issued,
          answered,
          ok,
          errors: errors + (issued - answered) + (total - issued),
          undelivered,
          deliveredSum,
          achievedRate: ok / elapsedS,
          maxIssueLagMs: maxLagMs,
          httpP50Ms: percentile(httpLatencies, 50),
          httpP99Ms: percentile(httpLatencies, 99),
          errorSamples,
        });
      };
      const fire = () => {
        const uid = `u${nextUid++ % uidCount}`;
        const t = nowMs();
        issued++;
        postJson(agent, url, '/send', JSON.stringify({ uid, message: message(t, bytes) }), headers, REQUEST_TIMEOUT_MS).then(
          (res) => {
            answered++;
            lastAnswerAt = performance.now();
            httpLatencies.push(nowMs() - t);
            if (res.status !== 200) return fail(`${res.status} ${res.body.slice(0, 200)}`);
            let delivered = 0;
            try {
              delivered = (JSON.parse(res.body) as { delivered?: number }).delivered ?? 0;
            } catch {
              return fail(`unparsable answer: ${res.body.slice(0, 200)}`);
            }
            deliveredSum += delivered;
            if (delivered !== 1) {
              undelivered++;
              return fail(`delivered ${delivered} for ${uid}`);
            }
            ok++;
          },
          (error: Error) => {
            answered++;
            lastAnswerAt = performance.now();
            fail(error.message);
          },
        ).finally(() => {
          if (issued === total && answered === total) finish();
        });
      };
      const ticker = setInterval(() => {
        const elapsed = performance.now() - start;
        const due = Math.min(total, Math.floor((elapsed * rate) / 1000));
        if (due > issued) maxLagMs = Math.max(maxLagMs, elapsed - (issued * 1000) / rate);
        while (issued < due) fire();
        if (issued === total) clearInterval(ticker);
      }, 1);
      // Whatever is still unanswered this long after the last scheduled request counts as an error.
      const deadline = setTimeout(() => {
        agent.destroy();
        agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
        finish();
      }, seconds * 1000 + REQUEST_TIMEOUT_MS + 5_000);
    });
  },
});

dieOnUncaught('sender');
emit('ready', { pid: process.pid });
