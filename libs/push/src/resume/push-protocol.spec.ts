import { EncodedMessage } from '../message/encoded-message';
import {
  envelopeOf,
  HEARTBEAT_FRAME,
  MAX_HELLO_CURSORS,
  parseHello,
  resumableForm,
  welcomeFrame,
  withEntry,
  type HelloFrame,
  type Welcome,
} from './push-protocol';

/** The header and payload of an envelope, split at its first newline as a client does. */
function split(envelope: EncodedMessage): { header: unknown; payload: Buffer } {
  const end = envelope.data.indexOf(0x0a);
  if (end < 0) throw new Error('an envelope has a newline after its header');
  return { header: JSON.parse(envelope.data.subarray(0, end).toString()), payload: envelope.data.subarray(end + 1) };
}

function welcomeJson(welcome: Welcome): unknown {
  return JSON.parse(welcomeFrame(welcome).data.toString());
}

describe('push-protocol', () => {
  describe('parseHello', () => {
    it('accepts a fresh hello', () => {
      expect(parseHello({ type: 'hello' })).toEqual({ cursors: new Map() });
    });

    it('accepts a resume with its cursors', () => {
      const hello = parseHello({ type: 'hello', resume: 'tok.en', cursors: { a: 'abc.3', 'g:room': 'ff.12' } });
      expect(hello).toEqual({
        resume: 'tok.en',
        cursors: new Map([
          ['a', { epoch: 'abc', n: 3 }],
          ['g:room', { epoch: 'ff', n: 12 }],
        ]),
      });
    });

    it('keeps only the well-formed cursors', () => {
      const hello = parseHello({
        type: 'hello',
        resume: 't',
        cursors: { ok: 'abc.1', bad: 'abc', number: 5, nothing: null, upper: 'ABC.1', ['k'.repeat(81)]: 'abc.2' },
      }) as HelloFrame;
      expect([...hello.cursors.keys()]).toEqual(['ok']);
      // A key of 80 characters is still taken.
      const longest = parseHello({ type: 'hello', cursors: { ['k'.repeat(80)]: 'abc.2' } }) as HelloFrame;
      expect(longest.cursors.size).toBe(1);
    });

    it.each([
      ['null', null],
      ['a string', 'hello'],
      ['an array', [{ type: 'hello' }]],
      ['another type', { type: 'msg' }],
      ['no type', { resume: 'x' }],
      ['an upper-case type', { type: 'HELLO' }],
    ])('refuses %s as a hello', (_label, frame) => {
      expect(parseHello(frame)).toBe('the first frame must be {"type":"hello"}');
    });

    it.each([
      ['a number', 5],
      ['null', null],
      ['an object', { token: 'x' }],
      ['a string of 257 characters', 'x'.repeat(257)],
    ])('refuses %s as the resume token', (_label, resume) => {
      expect(parseHello({ type: 'hello', resume })).toBe('resume must be a token string');
    });

    it('accepts a resume token of 256 characters', () => {
      expect(parseHello({ type: 'hello', resume: 'x'.repeat(256) })).toMatchObject({ resume: 'x'.repeat(256) });
    });

    it('refuses cursors that are not an object of key → offset', () => {
      expect(parseHello({ type: 'hello', cursors: ['abc.1'] })).toBe('cursors must be an object of key → offset');
      expect(parseHello({ type: 'hello', cursors: 'abc.1' })).toBe('cursors must be an object of key → offset');
    });

    it(`refuses more than ${MAX_HELLO_CURSORS} cursors`, () => {
      const cursors = (count: number) =>
        Object.fromEntries(Array.from({ length: count }, (_, i) => [`g:${i}`, `abc.${i}`]));
      expect((parseHello({ type: 'hello', cursors: cursors(MAX_HELLO_CURSORS) }) as HelloFrame).cursors.size).toBe(
        MAX_HELLO_CURSORS,
      );
      expect(parseHello({ type: 'hello', cursors: cursors(MAX_HELLO_CURSORS + 1) })).toBe(
        `at most ${MAX_HELLO_CURSORS} cursors`,
      );
    });

    it('accepts a hello parsed from JSON (a plain object of any realm)', () => {
      const hello = parseHello(JSON.parse('{"type":"hello","resume":"r","cursors":{"a":"0.0"}}'));
      expect(hello).toEqual({ resume: 'r', cursors: new Map([['a', { epoch: '0', n: 0 }]]) });
    });
  });

  describe('welcomeFrame', () => {
    const base = { clientId: 'c-new', token: 'c-new.secret', heartbeat: 25_000, window: 60_000 };

    it('welcomes a fresh connection', () => {
      const frame = welcomeFrame(base);
      expect(frame.binary).toBe(false);
      expect(frame.data.toString()).toBe(
        '{"type":"welcome","client_id":"c-new","token":"c-new.secret","heartbeat":25000,"window":60000,"resumed":false}',
      );
    });

    it('says why a resume was refused, and that nothing was recovered', () => {
      expect(welcomeJson({ ...base, resume: { resumed: false, reason: 'not_found' } })).toEqual({
        type: 'welcome',
        client_id: 'c-new',
        token: 'c-new.secret',
        heartbeat: 25_000,
        window: 60_000,
        resumed: false,
        recovered: false,
        reason: 'not_found',
      });
    });

    it('names the previous client_id of a resumed connection only when it changed', () => {
      expect(welcomeJson({ ...base, resume: { resumed: true, recovered: true, previousClientId: 'c-old' } })).toEqual({
        type: 'welcome',
        client_id: 'c-new',
        token: 'c-new.secret',
        heartbeat: 25_000,
        window: 60_000,
        resumed: true,
        recovered: true,
        previous_client_id: 'c-old',
      });
      const same = welcomeJson({ ...base, resume: { resumed: true, recovered: false, previousClientId: 'c-new' } });
      expect(same).toMatchObject({ resumed: true, recovered: false });
      expect(same).not.toHaveProperty('previous_client_id');
      expect(same).not.toHaveProperty('reason');
    });
  });

  it('has a heartbeat control frame without a newline', () => {
    expect(HEARTBEAT_FRAME.data.toString()).toBe('{"type":"hb"}');
  });

  describe('envelopeOf', () => {
    const offset = { epoch: '3f9a2c1b0d4e', n: 17 };

    it('puts a text payload after a header naming its history and offset', () => {
      const envelope = envelopeOf(EncodedMessage.encode('héllo\nworld'), { key: 'g:room1', offset });
      expect(envelope.binary).toBe(false);
      expect(envelope.data.toString()).toBe('{"type":"msg","key":"g:room1","off":"3f9a2c1b0d4e.17"}\nhéllo\nworld');
      expect(envelope.entry).toEqual({ key: 'g:room1', offset });
    });

    it('marks a JSON payload with json:1', () => {
      const envelope = envelopeOf(EncodedMessage.encode({ a: 'x\ny' }), { key: 'a', offset });
      expect(envelope.binary).toBe(false);
      expect(envelope.data.toString()).toBe('{"type":"msg","key":"a","off":"3f9a2c1b0d4e.17","json":1}\n{"a":"x\\ny"}');
    });

    it('makes a binary frame of header bytes, 0x0A and the payload bytes', () => {
      const bytes = Buffer.from([0x0a, 0x00, 0xff, 0x0a]);
      const envelope = envelopeOf(EncodedMessage.encode(bytes), { key: 'u:7', offset });
      expect(envelope.binary).toBe(true);
      const header = Buffer.from('{"type":"msg","key":"u:7","off":"3f9a2c1b0d4e.17"}');
      expect(envelope.data).toEqual(Buffer.concat([header, Buffer.from([0x0a]), bytes]));
    });

    it('escapes a key so that the first newline still ends the header', () => {
      const key = 'g:"quoted"\nline';
      const envelope = envelopeOf(EncodedMessage.encode('payload'), { key, offset });
      const { header, payload } = split(envelope);
      expect(header).toEqual({ type: 'msg', key, off: '3f9a2c1b0d4e.17' });
      expect(payload.toString()).toBe('payload');
    });

    it('writes a bare header for a message in no history', () => {
      const envelope = envelopeOf(EncodedMessage.encode([1, 2]), null);
      expect(envelope.data.toString()).toBe('{"type":"msg","json":1}\n[1,2]');
      expect(envelope.entry).toBeNull();
    });
  });

  describe('withEntry', () => {
    it('returns a view of the message that carries its envelope, sharing the payload', () => {
      const message = EncodedMessage.encode('news');
      const view = withEntry(message, 'g:room', { epoch: 'abc', n: 2 });
      expect(view).not.toBe(message);
      expect(view.data).toBe(message.data);
      expect(message.envelope).toBeNull();
      expect(view.envelope!.entry).toEqual({ key: 'g:room', offset: { epoch: 'abc', n: 2 } });
      expect(view.envelope!.data.toString()).toBe('{"type":"msg","key":"g:room","off":"abc.2"}\nnews');
    });

    it('keeps the audience the message was given', () => {
      const view = withEntry(EncodedMessage.encode('x').forAudience('plain'), 'a', { epoch: 'abc', n: 1 });
      expect(view.audience).toBe('plain');
    });
  });

  describe('resumableForm', () => {
    it('builds the bare envelope of a message in no history once, and keeps it on the message', () => {
      const message = EncodedMessage.encode({ n: 1 });
      const form = resumableForm(message);
      expect(form.data.toString()).toBe('{"type":"msg","json":1}\n{"n":1}');
      expect(form.entry).toBeNull();
      expect(message.envelope).toBe(form);
      expect(resumableForm(message)).toBe(form);
    });

    it('returns the envelope a message with a history entry already carries', () => {
      const view = withEntry(EncodedMessage.encode('x'), 'a', { epoch: 'abc', n: 9 });
      expect(resumableForm(view)).toBe(view.envelope);
    });
  });
});
