import { HttpException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { bodyErrorBody, type BodyReadError } from './body-error.handler';
import { parseByteLimit } from './http-platform';

/** Most fields in a form body, as body-parser's `parameterLimit`; more answers 413 `too many parameters`. */
export const FORM_PARAMETER_LIMIT = 1000;

type Done = (error: Error | null, body?: unknown) => void;

/**
 * Replaces Fastify's body parsers with ones that read and refuse bodies exactly as the Express platform's
 * body-parser does (`json` strict, `urlencoded` with `extended: false`, same limit), so the example app's HTTP
 * contract does not depend on `HTTP_PLATFORM`:
 * - `application/json`: UTF-8 (any `utf-*` charset, a BOM is skipped), an object or array only; an empty body is `{}`;
 *   anything else that is not JSON answers 400 `body is not valid JSON`.
 * - `application/x-www-form-urlencoded`: fields as body-parser reads them (`a=1&a=2` → an array, `a[b]` is a literal
 *   field name, invalid percent-encoding is kept as written), at most 1000 fields (413), utf-8 or iso-8859-1.
 * - `Content-Encoding` gzip, deflate and br are inflated (the limit counts inflated bytes); others answer 415.
 * - Any other content type is not read: the handler sees no body (Fastify's own default would be a 415).
 * Every refusal is the same JSON `{statusCode, error, message}` as on Express (`bodyErrorBody`), raised as an
 * `HttpException` so Nest's exception layer answers it. A body over the limit is refused as soon as its
 * `Content-Length` (or the bytes read) pass it; Node discards the rest of it.
 */
export function registerBodyParsers(fastify: FastifyInstance, limitText: string): void {
  const limit = parseByteLimit(limitText);
  const refuse = (error: BodyReadError): HttpException => {
    const body = bodyErrorBody(error, limitText)!;
    return new HttpException(body, body.statusCode);
  };
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', (request, payload, done: Done) => {
    readText(request.raw, payload, limit, (charset) => charset.startsWith('utf-'), (error, text) => {
      if (error) return done(refuse(error));
      try {
        done(null, parseStrictJson(text!));
      } catch {
        done(refuse(clientError(400, 'entity.parse.failed', 'body is not valid JSON')));
      }
    });
  });
  fastify.addContentTypeParser('application/x-www-form-urlencoded', (request, payload, done: Done) => {
    readText(request.raw, payload, limit, (charset) => charset === 'utf-8' || charset === 'iso-8859-1', (error, text, charset) => {
      if (error) return done(refuse(error));
      const form = parseForm(text!, charset!);
      if (form === null) return done(refuse(clientError(413, 'parameters.too.many', 'too many parameters')));
      done(null, form);
    });
  });
  // Not ours to read (text/plain, multipart, none at all): the handler gets no body and answers 400 itself, as on
  // Express, where body-parser leaves such bodies alone.
  fastify.addContentTypeParser('*', (_request, _payload, done: Done) => done(null, undefined));
}

/**
 * Reads a whole body as text within `limit` bytes (after inflating it), with the checks and error types of
 * body-parser's `read` + raw-body: 415 unsupported charset or encoding, 413 too large, 400 size mismatch or aborted.
 */
function readText(
  req: IncomingMessage,
  payload: Readable,
  limit: number,
  validCharset: (charset: string) => boolean,
  done: (error: BodyReadError | null, text?: string, charset?: string) => void,
): void {
  const charset = charsetOf(req.headers['content-type']) ?? 'utf-8';
  if (!validCharset(charset)) {
    return done(clientError(415, 'charset.unsupported', `unsupported charset "${charset.toUpperCase()}"`));
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  let inflater: Transform | null = null;
  let expected: number | null = null;
  if (encoding === 'identity') {
    const header = req.headers['content-length'];
    expected = header === undefined ? null : Number(header);
    if (expected !== null && expected > limit) return done(tooLarge(limit));
  } else {
    const inflate = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress }[encoding];
    if (!inflate) return done(clientError(415, 'encoding.unsupported', `unsupported content encoding "${encoding}"`));
    inflater = payload.pipe(inflate());
  }
  const stream: Readable = inflater ?? payload;
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  const finish = (error: BodyReadError | null, text?: string) => {
    if (finished) return;
    finished = true;
    stream.off('data', onData).off('end', onEnd).off('error', onError);
    payload.off('aborted', onAborted).off('error', onError);
    if (inflater) {
      payload.unpipe(inflater);
      inflater.on('error', () => undefined).destroy();
    }
    // Whatever is left unread is discarded (the response can still go out on a keep-alive connection).
    if (error) payload.resume();
    done(error, text, charset);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) return finish(tooLarge(limit));
    chunks.push(chunk);
  };
  const onEnd = () => {
    if (expected !== null && received !== expected) {
      return finish(clientError(400, 'request.size.invalid', 'request size did not match content length'));
    }
    const body = Buffer.concat(chunks, received);
    // Decoded as body-parser's iconv-lite does: a UTF-8 byte order mark is not part of the text.
    const text = charset === 'iso-8859-1' ? body.toString('latin1') : body.toString('utf8').replace(/^\uFEFF/, '');
    finish(null, text);
  };
  const onError = (error: Error) =>
    finish(
      inflater
        ? clientError(400, 'encoding.invalid', `body could not be decoded (${encoding}): ${error.message}`)
        : clientError(400, 'request.aborted', 'request aborted'),
    );
  const onAborted = () => finish(clientError(400, 'request.aborted', 'request aborted'));
  stream.on('data', onData).on('end', onEnd).on('error', onError);
  payload.on('aborted', onAborted);
  if (inflater) payload.on('error', onError);
}

/** body-parser's strict JSON: an empty body is `{}`; the first non-blank character must open an object or array. */
function parseStrictJson(text: string): unknown {
  if (text.length === 0) return {};
  const first = /^[\x20\x09\x0a\x0d]*(.?)/.exec(text)![1];
  if (first !== '{' && first !== '[') throw new SyntaxError('not a JSON object or array');
  return JSON.parse(text);
}

/**
 * A form body read as body-parser's `urlencoded({ extended: false })` reads it (qs at depth 0): `+` is a space, a
 * repeated field becomes an array, a field without `=` is `''`, an empty name or `__proto__` is skipped, and
 * invalid percent-encoding stays as written. Null past `FORM_PARAMETER_LIMIT` fields.
 */
function parseForm(text: string, charset: string): Record<string, string | string[]> | null {
  const form: Record<string, string | string[]> = {};
  if (text.length === 0) return form;
  const parts = text.split('&');
  if (parts.length > FORM_PARAMETER_LIMIT) return null;
  const decode = charset === 'iso-8859-1' ? decodeLatin1 : decodeUtf8;
  for (const part of parts) {
    if (part === '') continue;
    const bracketEquals = part.indexOf(']=');
    const at = bracketEquals === -1 ? part.indexOf('=') : bracketEquals + 1;
    const key = decode(at === -1 ? part : part.slice(0, at));
    const value = at === -1 ? '' : decode(part.slice(at + 1));
    if (key === '' || key === '__proto__') continue;
    const previous = Object.prototype.hasOwnProperty.call(form, key) ? form[key] : undefined;
    form[key] = previous === undefined ? value : ([] as string[]).concat(previous, value);
  }
  return form;
}

function decodeUtf8(raw: string): string {
  const text = raw.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function decodeLatin1(raw: string): string {
  return raw.replace(/\+/g, ' ').replace(/%[0-9a-f]{2}/gi, (hex) => String.fromCharCode(parseInt(hex.slice(1), 16)));
}

/** The `charset` parameter of a Content-Type header, lower-cased (undefined when absent). */
function charsetOf(contentType: string | undefined): string | undefined {
  const match = contentType && /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType);
  return match ? (match[1] ?? match[2]).toLowerCase() : undefined;
}

function tooLarge(limit: number): BodyReadError {
  return Object.assign(clientError(413, 'entity.too.large', 'request entity too large'), { limit });
}

function clientError(status: number, type: string, message: string): BodyReadError {
  return Object.assign(new Error(message), { status, type });
}
