import * as http from 'node:http';

/**
 * The references' HTTP-push endpoint: `POST /send {uid, message}` with a JSON body, answered `{"delivered": n}`
 * (404 for anything else, 400 for a body that is not JSON). `push` does the reference's own lookup and send.
 * No authentication, no validation beyond JSON: it is the floor the example app is compared with.
 */
export function createSendServer(push: (uid: unknown, message: unknown) => number): http.Server {
  return http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/send') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"statusCode":404}');
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      let parsed: { uid?: unknown; message?: unknown };
      try {
        parsed = JSON.parse(body);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"statusCode":400}');
        return;
      }
      const delivered = push(parsed.uid, parsed.message);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ delivered }));
    });
  });
}
