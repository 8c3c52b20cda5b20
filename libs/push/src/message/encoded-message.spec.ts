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

  it('refuses circular objects with a clear error', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => EncodedMessage.encode(a as never)).toThrow(/cannot be serialised/);
  });
});
