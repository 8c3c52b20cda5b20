import { BadRequestException, type ArgumentMetadata } from '@nestjs/common';
import { LoginDto } from '../../auth/dto/login.dto';
import { BindDto } from '../../push-demo/dto/bind.dto';
import { PresenceParamsDto } from '../../push-demo/dto/presence-params.dto';
import { SendDto, sendTarget } from '../../push-demo/dto/send.dto';
import { AppValidationPipe, NOT_AN_OBJECT } from './app-validation.pipe';

describe('AppValidationPipe', () => {
  const pipe = new AppValidationPipe();
  const body = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({ type: 'body', metatype });
  /** The 400 body the pipe answers for `value`, or 'passed'. */
  const answer = async (value: unknown, metadata: ArgumentMetadata) => {
    try {
      await pipe.transform(value, metadata);
      return 'passed';
    } catch (error) {
      expect(error).toBeInstanceOf(BadRequestException);
      return (error as BadRequestException).getResponse();
    }
  };
  const bad = (message: string) => ({ statusCode: 400, error: 'Bad Request', message });

  it.each([
    ['an array', [{ uid: 'a' }]],
    ['an empty array', []],
    ['no body (undefined)', undefined],
    ['null', null],
    ['a string', 'uid=a'],
    ['a number', 42],
    ['a Buffer', Buffer.from('{"uid":"a"}')],
  ])('refuses %s as a body with the app message', async (_label, value) => {
    expect(await answer(value, body(LoginDto))).toEqual(bad(NOT_AN_OBJECT));
  });

  it('answers one string message for the first bad field', async () => {
    expect(await answer({}, body(LoginDto))).toEqual(bad('uid is required'));
    expect(await answer({ client_id: 1, group: '' }, body(BindDto))).toEqual(bad('client_id must be a string'));
    expect(await answer({ client_id: 'c', group: '' }, body(BindDto))).toEqual(bad('group is required'));
  });

  it('checks /send in the contract order: target count, then message, then the chosen target', async () => {
    const rule = bad('give exactly one of uid, group, client_id or all: true');
    expect(await answer({ uid: '', group: '' }, body(SendDto))).toEqual(rule);
    expect(await answer({ uid: '' }, body(SendDto))).toEqual(bad('message is required'));
    expect(await answer({ uid: '', message: 'x' }, body(SendDto))).toEqual(bad('uid is required'));
    expect(await answer({ all: 'false', message: 'x' }, body(SendDto))).toEqual(bad('all must be true'));
  });

  it('hands the handler the very object it got, untouched: extra fields, nested constructor / __proto__ keys', async () => {
    const parsed = JSON.parse(
      '{"uid":"bob","message":{"constructor":null,"prototype":1,"__proto__":{"p":1},"list":[{"constructor":2}]},"extra":true}',
    );
    const before = JSON.stringify(parsed);
    const result = await pipe.transform(parsed, body(SendDto));
    expect(result).toBe(parsed);
    expect(JSON.stringify(result)).toBe(before);
    expect(Object.keys(parsed.message)).toEqual(['constructor', 'prototype', '__proto__', 'list']);
    expect(sendTarget(result as SendDto)).toBe('uid');
  });

  it('accepts a parsed form (an object without prototype), as body-parser and querystring make it', async () => {
    const form = Object.assign(Object.create(null), { all: 'true', message: 'hi' });
    expect(await pipe.transform(form, body(SendDto))).toBe(form);
    const empty = Object.assign(Object.create(null), { uid: '' });
    expect(await answer(empty, body(LoginDto))).toEqual(bad('uid is required'));
  });

  it('validates route parameters through a DTO', async () => {
    const param: ArgumentMetadata = { type: 'param', metatype: PresenceParamsDto };
    expect(await answer({ uid: 'alice' }, param)).toBe('passed');
    expect(await answer({ uid: '\udfff' }, param)).toEqual(
      bad('uid must be well-formed Unicode (it contains a lone UTF-16 surrogate)'),
    );
  });

  it('leaves values without a DTO type alone, whatever they are', async () => {
    for (const [value, metatype] of [
      [[1, 2], Object],
      ['x', String],
      [undefined, undefined],
    ] as const) {
      expect(await pipe.transform(value, { type: 'body', metatype })).toBe(value);
    }
    // A custom parameter decorator (such as @CurrentUid) is not validated.
    expect(await pipe.transform([], { type: 'custom', metatype: LoginDto })).toEqual([]);
  });

  it('sendTarget refuses a body that was not validated', () => {
    expect(() => sendTarget({ message: 'x', uid: 'a', group: 'g' })).toThrow(/expected a validated SendDto/);
  });
});
