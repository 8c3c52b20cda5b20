import { decodeWire, encodeWire } from './redis-wire';

describe('redis wire format', () => {
  it('round-trips a header and a binary body that contains newlines', () => {
    const body = Buffer.from([0x0a, 0, 255, 0x0a]);
    const { header, body: out } = decodeWire(encodeWire({ o: 'n1', op: 'send', b: 1, x: ['a\nb'] }, body));
    expect(header).toEqual({ o: 'n1', op: 'send', b: 1, x: ['a\nb'] });
    expect([...out]).toEqual([...body]);
  });

  it('carries a header alone', () => {
    expect(decodeWire(encodeWire({ o: 'n', op: 'close' }))).toEqual({
      header: { o: 'n', op: 'close' },
      body: Buffer.alloc(0),
    });
  });

  it('rejects a payload without a header line', () => {
    expect(() => decodeWire(Buffer.from('{"o":1}'))).toThrow(/no header/);
  });
});
