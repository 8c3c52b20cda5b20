import * as http from 'node:http';
import { gzipSync } from 'node:zlib';
import { NodeProcess } from './support/node-process';
import { startApp, TestApp } from './support/test-app';
import { TestClient } from './support/test-client';

/**
 * The example app's HTTP contract does not depend on `HTTP_PLATFORM`. The app runs on Express and on Fastify side by
 * side, and every request below goes to both over real HTTP: each answer must be the one the contract names (status,
 * and the body where it is ours), and Fastify's must equal Express's (status, Content-Type, JSON body, Set-Cookie,
 * no ETag, no X-Powered-By).
 *
 * On Fastify's defaults most of these differ (issue 8): a body over the limit is `{statusCode, message}` without
 * `error`, text/plain bodies are parsed, other types answer 415, `"str"` is accepted as a JSON body, an empty JSON
 * body is a 400, gzip bodies are not inflated, `/ME/` is a 404, a 256-character uid in `/presence/:uid` is a 404
 * (maxParamLength 100), a path that does not percent-decode answers another JSON shape, and `POST /login` is a 500
 * (`res.cookie` is Express's).
 *
 * This suite starts both platforms itself, so it runs in the express jest project only.
 */
const EVIL = 'https://evil.example';
const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

interface Answer {
  status: number;
  contentType: string | undefined;
  body: unknown;
  setCookie: string[];
  etag: string | undefined;
  poweredBy: string | undefined;
}

/** One request with node:http (no keep-alive, headers exactly as given, the body as raw bytes). */
function request(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer) {
  return new Promise<Answer>((resolve, reject) => {
    const url = new URL(baseUrl);
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let parsed: unknown = text;
        if (res.headers['content-type']?.startsWith(JSON_TYPE)) parsed = JSON.parse(text);
        resolve({
          status: res.statusCode!,
          contentType: res.headers['content-type'],
          body: parsed,
          // Expires is the request's clock plus Max-Age: it may tick over between the two requests.
          setCookie: (res.headers['set-cookie'] ?? []).map((c) => c.replace(/; Expires=[^;]+/, '; Expires=…')),
          etag: res.headers.etag,
          poweredBy: res.headers['x-powered-by'] as string | undefined,
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Case {
  name: string;
  method: string;
  path: string;
  /** Headers besides the login cookie (sent unless `anonymous`). */
  headers?: Record<string, string>;
  body?: string | Buffer;
  anonymous?: boolean;
  status: number;
  /** What the contract says the body holds (a subset), when the answer is ours rather than a controller's. */
  expected?: unknown;
}

const bodyError = (statusCode: number, error: string, message: string) => ({ statusCode, error, message });

const CASES: Case[] = [
  { name: 'the demo page', method: 'GET', path: '/', status: 200 },
  { name: 'HEAD of the demo page', method: 'HEAD', path: '/', status: 200 },
  { name: 'the plain page', method: 'GET', path: '/plain', status: 200 },
  { name: 'the browser client', method: 'GET', path: '/push-client.js', status: 200 },
  { name: 'GET /me when logged out', method: 'GET', path: '/me', anonymous: true, status: 200, expected: { uid: null } },
  { name: 'a route in another case, with a trailing slash (Express matches it)', method: 'GET', path: '/ME/', status: 200, expected: { uid: 'alice' } },
  { name: 'an unknown path', method: 'GET', path: '/nope', status: 404, expected: bodyError(404, 'Not Found', 'Cannot GET /nope') },
  { name: 'OPTIONS of a route', method: 'OPTIONS', path: '/login', status: 404 },
  { name: 'a 256-character uid in /presence/:uid', method: 'GET', path: `/presence/${'u'.repeat(256)}`, status: 200, expected: { online: false } },
  { name: 'a path that is not valid percent-encoded UTF-8', method: 'GET', path: '/presence/%ED%A0%80', status: 400, expected: bodyError(400, 'Bad Request', "Failed to decode param '%ED%A0%80'") },
  { name: 'a malformed percent-escape', method: 'GET', path: '/presence/%zz', status: 400, expected: bodyError(400, 'Bad Request', "Failed to decode param '%zz'") },
  { name: 'POST /login sets the cookie', method: 'POST', path: '/login', anonymous: true, headers: { 'content-type': JSON_TYPE }, body: '{"uid":"bob"}', status: 200, expected: { uid: 'bob' } },
  { name: 'POST /logout clears it', method: 'POST', path: '/logout', headers: { 'content-type': JSON_TYPE }, body: '{}', status: 200, expected: { uid: null } },
  { name: 'a form login with a repeated field', method: 'POST', path: '/login', anonymous: true, headers: { 'content-type': FORM_TYPE }, body: 'uid=a&uid=b', status: 400 },
  { name: 'a JSON send', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE }, body: '{"uid":"nobody","message":"m"}', status: 200, expected: { delivered: 0, held: 0 } },
  { name: 'a JSON send with a charset and a byte order mark', method: 'POST', path: '/send', headers: { 'content-type': `${JSON_TYPE}; charset=UTF-8` }, body: '\ufeff{"all":true,"message":"m"}', status: 200, expected: { delivered: 0, held: 0 } },
  { name: 'a gzip-encoded JSON send', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' }, body: gzipSync('{"all":true,"message":"z"}'), status: 200, expected: { delivered: 0, held: 0 } },
  { name: 'a gzip body that inflates past the limit', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' }, body: gzipSync(`{"all":true,"message":"${'z'.repeat(64 * 1024)}"}`), status: 413, expected: bodyError(413, 'Payload Too Large', 'body must be at most 16kb') },
  { name: 'an unknown content encoding', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE, 'content-encoding': 'compress' }, body: 'x', status: 415, expected: bodyError(415, 'Unsupported Media Type', 'unsupported content encoding "compress"') },
  { name: 'a JSON body in latin1', method: 'POST', path: '/send', headers: { 'content-type': `${JSON_TYPE}; charset=latin1` }, body: '{}', status: 415, expected: bodyError(415, 'Unsupported Media Type', 'unsupported charset "LATIN1"') },
  { name: 'a JSON body over 16 KiB', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE }, body: `{"all":true,"message":"${'x'.repeat(17 * 1024)}"}`, status: 413, expected: bodyError(413, 'Payload Too Large', 'body must be at most 16kb') },
  { name: 'malformed JSON', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE }, body: '{"all":', status: 400, expected: bodyError(400, 'Bad Request', 'body is not valid JSON') },
  { name: 'a JSON string instead of an object', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE }, body: '"all"', status: 400, expected: bodyError(400, 'Bad Request', 'body is not valid JSON') },
  { name: 'an empty JSON body (read as {})', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE }, body: '', status: 400 },
  { name: 'a text/plain body (not read)', method: 'POST', path: '/send', headers: { 'content-type': 'text/plain' }, body: 'all=true', status: 400 },
  { name: 'a body with no content type (not read)', method: 'POST', path: '/send', body: '{"all":true,"message":"m"}', status: 400 },
  { name: 'a +json media type (not read, as on Express)', method: 'POST', path: '/send', headers: { 'content-type': 'application/vnd.api+json' }, body: '{"all":true,"message":"m"}', status: 400 },
  { name: 'a form send with a bad percent-escape (kept as written)', method: 'POST', path: '/send', headers: { 'content-type': FORM_TYPE }, body: 'uid=nobody&message=a+b%zz', status: 200, expected: { delivered: 0, held: 0 } },
  { name: 'a form over 16 KiB', method: 'POST', path: '/send', headers: { 'content-type': FORM_TYPE }, body: `all=true&message=${'x'.repeat(17 * 1024)}`, status: 413, expected: bodyError(413, 'Payload Too Large', 'body must be at most 16kb') },
  { name: 'a form with 1001 fields', method: 'POST', path: '/send', headers: { 'content-type': FORM_TYPE }, body: 'a=1&'.repeat(1000) + 'a=1', status: 413, expected: bodyError(413, 'Payload Too Large', 'too many parameters') },
  { name: 'a form in UTF-16', method: 'POST', path: '/send', headers: { 'content-type': `${FORM_TYPE}; charset=utf-16` }, body: 'a=1', status: 415, expected: bodyError(415, 'Unsupported Media Type', 'unsupported charset "UTF-16"') },
  { name: 'a cross-site POST to an unknown path', method: 'POST', path: '/nope', headers: { origin: EVIL }, status: 403, expected: { code: 'cross_site_request' } },
  { name: 'a cross-site oversized send is refused before its body is read', method: 'POST', path: '/send', headers: { 'content-type': JSON_TYPE, 'sec-fetch-site': 'cross-site' }, body: `{"m":"${'x'.repeat(17 * 1024)}"}`, status: 403, expected: { code: 'cross_site_request' } },
  { name: 'a POST from Origin: null', method: 'POST', path: '/login', headers: { 'content-type': JSON_TYPE, origin: 'null' }, body: '{"uid":"x"}', status: 403, expected: { code: 'cross_site_request' } },
  { name: 'a send without login', method: 'POST', path: '/send', anonymous: true, headers: { 'content-type': JSON_TYPE }, body: '{"all":true,"message":"m"}', status: 401 },
];

describe('the HTTP contract on Express and on Fastify', () => {
  let express: TestApp;
  let fastify: TestApp;
  let cookie: string;

  beforeAll(async () => {
    express = await startApp({}, { HTTP_PLATFORM: 'express' });
    fastify = await startApp({}, { HTTP_PLATFORM: 'fastify' });
    // Both apps sign with the same COOKIE_SECRET, so one login serves both.
    const login = await request(express.baseUrl, 'POST', '/login', { 'content-type': JSON_TYPE }, '{"uid":"alice"}');
    cookie = login.setCookie[0].split(';')[0];
  });
  afterAll(async () => {
    await Promise.all([express?.close(), fastify?.close()]);
  });

  it('runs each app on the platform it was asked for', () => {
    expect(express.app.getHttpAdapter().getType()).toBe('express');
    expect(fastify.app.getHttpAdapter().getType()).toBe('fastify');
  });

  it.each(CASES)('$name → $status, the same on both', async (c) => {
    const headers = { ...(c.anonymous ? {} : { cookie }), ...c.headers };
    const onExpress = await request(express.baseUrl, c.method, c.path, headers, c.body);
    const onFastify = await request(fastify.baseUrl, c.method, c.path, headers, c.body);
    expect(onExpress.status).toBe(c.status);
    if (c.expected !== undefined) expect(onExpress.body).toMatchObject(c.expected as object);
    if (typeof onExpress.body === 'object') expect(onExpress.contentType).toBe('application/json; charset=utf-8');
    expect(onExpress.etag).toBeUndefined();
    expect(onExpress.poweredBy).toBeUndefined();
    expect(onFastify).toEqual(onExpress);
  });

  it('the login cookie Fastify sets is the one Express sets, and each app accepts the other one', async () => {
    const body = '{"uid":"carol"}';
    const onExpress = await request(express.baseUrl, 'POST', '/login', { 'content-type': JSON_TYPE }, body);
    const onFastify = await request(fastify.baseUrl, 'POST', '/login', { 'content-type': JSON_TYPE }, body);
    expect(onFastify.setCookie).toEqual(onExpress.setCookie);
    expect(onFastify.setCookie[0]).toMatch(/^push_demo_uid=s%3A\d+\.carol\.[^;]+; Max-Age=86400; Path=\/; Expires=…; HttpOnly; SameSite=Lax$/);
    const fromFastify = onFastify.setCookie[0].split(';')[0];
    expect((await request(express.baseUrl, 'GET', '/me', { cookie: fromFastify })).body).toEqual({ uid: 'carol' });
  });

  it('a bind and a send through Fastify reach the socket, as through Express', async () => {
    const tab = await TestClient.connect(fastify.wsUrl);
    const form = { 'content-type': FORM_TYPE, cookie };
    const bind = await request(fastify.baseUrl, 'POST', '/bind', form, `client_id=${tab.clientId}`);
    expect(bind).toMatchObject({ status: 200, body: { client_id: tab.clientId, uid: 'alice' } });
    const send = await request(fastify.baseUrl, 'POST', '/send', form, 'uid=alice&message=hi+there');
    expect(send).toMatchObject({ status: 200, body: { delivered: 1, held: 0 } });
    expect(await tab.next()).toEqual({ type: 'message', from: 'alice', data: 'hi there' });
    await fastify.disconnect([tab]);
  });

  it('node dist/src/main.js with an unknown HTTP_PLATFORM stops at once and says why', async () => {
    const started = NodeProcess.start('bad-platform', { HTTP_PLATFORM: 'koa' }, 10_000);
    await expect(started).rejects.toThrow(/exited before listening \(code 1[\s\S]*HTTP_PLATFORM must be express or fastify, got "koa"/);
  });
});
