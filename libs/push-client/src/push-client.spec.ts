import { decodeFrame, fullJitter } from './push-client';

/** The bytes of a binary message frame: header, 0x0A, payload. */
function binaryFrame(header: string, payload: number[]): Uint8Array {
  const head = new TextEncoder().encode(header);
  const frame = new Uint8Array(head.length + 1 + payload.length);
  frame.set(head);
  frame[head.length] = 0x0a;
  frame.set(payload, head.length + 1);
  return frame;
}

describe('push-client', () => {
  describe('decodeFrame', () => {
    it('reads a control frame as a header without payload', () => {
      expect(decodeFrame('{"type":"hb"}')).toEqual({ header: { type: 'hb' } });
      const welcome = decodeFrame('{"type":"welcome","client_id":"c1","resumed":true}');
      expect(welcome).toEqual({ header: { type: 'welcome', client_id: 'c1', resumed: true } });
      expect(welcome).not.toHaveProperty('payload');
    });

    it('reads a text message as its header and the string after the first newline', () => {
      const frame = decodeFrame('{"type":"msg","key":"g:room","off":"abc.3"}\nline 1\nline 2');
      expect(frame).toEqual({ header: { type: 'msg', key: 'g:room', off: 'abc.3' }, payload: 'line 1\nline 2' });
    });

    it('keeps a text payload that looks like JSON as a string unless the header says json', () => {
      expect(decodeFrame('{"type":"msg"}\n{"a":1}').payload).toBe('{"a":1}');
      expect(decodeFrame('{"type":"msg"}\n').payload).toBe('');
    });

    it('parses a JSON message', () => {
      const frame = decodeFrame('{"type":"msg","key":"a","off":"abc.1","json":1}\n{"a":[1,"x\\ny"],"b":null}');
      expect(frame.payload).toEqual({ a: [1, 'x\ny'], b: null });
      expect(decodeFrame('{"type":"msg","json":1}\n42').payload).toBe(42);
    });

    it('reads a binary message from an ArrayBuffer as the bytes after the first 0x0A', () => {
      const bytes = binaryFrame('{"type":"msg","key":"u:7","off":"abc.9"}', [0x0a, 0x00, 0xff, 0x0a]);
      const frame = decodeFrame(bytes.buffer);
      expect(frame.header).toEqual({ type: 'msg', key: 'u:7', off: 'abc.9' });
      expect(frame.payload).toBeInstanceOf(Uint8Array);
      expect([...(frame.payload as Uint8Array)]).toEqual([0x0a, 0x00, 0xff, 0x0a]);
    });

    it('reads a binary message from a Uint8Array that is a window on a larger buffer', () => {
      const bytes = binaryFrame('{"type":"msg"}', [1, 2, 3]);
      const larger = new Uint8Array(bytes.length + 8).fill(0x0a);
      larger.set(bytes, 4);
      const view = larger.subarray(4, 4 + bytes.length);
      const frame = decodeFrame(view);
      expect(frame.header).toEqual({ type: 'msg' });
      expect(frame.payload).toBeInstanceOf(Uint8Array);
      expect([...(frame.payload as Uint8Array)]).toEqual([1, 2, 3]);
      // The payload is a copy: the app may keep it after the socket reuses its buffer.
      larger.fill(0);
      expect([...(frame.payload as Uint8Array)]).toEqual([1, 2, 3]);
    });

    it('reads an empty binary payload, and a binary control frame without a newline', () => {
      expect([...(decodeFrame(binaryFrame('{"type":"msg"}', [])).payload as Uint8Array)]).toEqual([]);
      const control = decodeFrame(new TextEncoder().encode('{"type":"hb"}'));
      expect(control).toEqual({ header: { type: 'hb' } });
    });

    it('decodes a binary header with the decoder it is given', () => {
      const seen: number[][] = [];
      const decoder = {
        decode: (input: Uint8Array) => {
          seen.push([...input]);
          return '{"type":"msg","via":"custom"}';
        },
      };
      const frame = decodeFrame(binaryFrame('{}', [7]), decoder);
      expect(frame.header).toEqual({ type: 'msg', via: 'custom' });
      expect(seen).toEqual([[0x7b, 0x7d]]);
    });

    it.each([
      ['a header that is not JSON', 'not json\npayload'],
      ['an array header', '[1,2]\npayload'],
      ['a null header', 'null'],
      ['a string header', '"msg"'],
      ['an empty frame', ''],
      ['a JSON message whose payload is not JSON', '{"type":"msg","json":1}\n{oops'],
    ])('throws for %s', (_label, data) => {
      expect(() => decodeFrame(data)).toThrow();
    });

    it('throws for a binary frame whose header is not an object', () => {
      expect(() => decodeFrame(binaryFrame('[]', [1]))).toThrow('frame header is not an object');
    });

    it('throws for data that is neither a string nor bytes', () => {
      expect(() => decodeFrame(42)).toThrow('unexpected frame data (number)');
      expect(() => decodeFrame(null)).toThrow('unexpected frame data (object)');
    });
  });

  describe('fullJitter', () => {
    const just = (value: number) => () => value;
    const almostOne = 1 - Number.EPSILON;

    it('waits between 0 and just under the cap', () => {
      expect(fullJitter(0, 1000, 30_000, just(0))).toBe(0);
      expect(fullJitter(0, 1000, 30_000, just(almostOne))).toBe(999);
      expect(fullJitter(3, 1000, 30_000, just(0))).toBe(0);
      expect(fullJitter(3, 1000, 30_000, just(almostOne))).toBe(7999);
    });

    it('doubles the cap with every attempt', () => {
      const half = [0, 1, 2, 3, 4].map((attempt) => fullJitter(attempt, 1000, 1_000_000, just(0.5)));
      expect(half).toEqual([500, 1000, 2000, 4000, 8000]);
    });

    it('never waits longer than max', () => {
      expect(fullJitter(5, 1000, 30_000, just(almostOne))).toBe(29_999);
      expect(fullJitter(5, 1000, 30_000, just(0.5))).toBe(15_000);
      expect(fullJitter(1_000, 1000, 30_000, just(0.5))).toBe(15_000);
      expect(fullJitter(Number.MAX_SAFE_INTEGER, 1000, 30_000, just(almostOne))).toBe(29_999);
    });

    it('uses Math.random when no random is given', () => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const wait = fullJitter(attempt, 100, 5_000);
        expect(Number.isInteger(wait)).toBe(true);
        expect(wait).toBeGreaterThanOrEqual(0);
        expect(wait).toBeLessThan(Math.min(5_000, 100 * 2 ** attempt));
      }
    });
  });
});
