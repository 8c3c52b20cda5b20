import { EncodedMessage } from './encoded-message';
import { PushInvalidArgumentError } from '../errors/push.errors';

describe('EncodedMessage', () => {
  it('sends strings as text, verbatim', () => {
    const m = EncodedMessage.encode('héllo');
    expect(m.binary).toBe(false);
    expect(m.data.toString('utf8')).toBe('héllo');
  });

  it('sends Buffers and Uint8Arrays as binary without copying the bytes', () => {
    const buf = Buffer.from([1, 2, 3]);
    expect(EncodedMessage.encode(buf).data).toBe(buf);
    const arr = new Uint8Array([0, 9, 8, 7]).subarray(1);
    const m = EncodedMessage.encode(arr);
    expect(m.binary).toBe(true);
    expect([...m.data]).toEqual([9, 8, 7]);
  });

  it('serialises other JSON values once', () => {
    expect(EncodedMessage.encode({ a: [1, null] }).data.toString()).toBe('{"a":[1,null]}');
    expect(EncodedMessage.encode(42).data.toString()).toBe('42');
    expect(EncodedMessage.encode(null).data.toString()).toBe('null');
  });

  it.each([
    ['undefined', undefined],
    ['a function', () => 1],
    ['a symbol', Symbol('x')],
    ['a bigint', BigInt(1)],
  ])('refuses %s', (_label, value) => {
    expect(() => EncodedMessage.encode(value as never)).toThrow(PushInvalidArgumentError);
  });

  it('keeps the first frame built for it and hands the same bytes to every later caller', () => {
    const m = EncodedMessage.encode(Buffer.from([4, 5]));
    const calls: [Buffer, boolean][] = [];
    const frame = m.framedBy((data, binary) => {
      calls.push([data, binary]);
      return Buffer.concat([Buffer.from([0x82, data.length]), data]);
    });
    expect([...frame]).toEqual([0x82, 2, 4, 5]);
    expect(calls).toEqual([[m.data, true]]);
    expect(m.framedBy(() => Buffer.from('another'))).toBe(frame);
    expect(calls).toHaveLength(1);
  });

  it('refuses circular objects with a clear error', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => EncodedMessage.encode(a as never)).toThrow(/cannot be serialised/);
  });
});
