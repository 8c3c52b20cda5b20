import { BadRequestException } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { CHECK_ORDER } from './check-order';
import { FALLBACK_MESSAGE, firstErrorAsBadRequest, firstMessage } from './first-error.exception-factory';

const error = (property: string, constraints?: Record<string, string>, children: ValidationError[] = []) =>
  ({ property, constraints, children }) as ValidationError;

describe('firstErrorAsBadRequest', () => {
  it('answers 400 {statusCode, error, message} with one string message, not an array', () => {
    const exception = firstErrorAsBadRequest([
      error('uid', { isPresent: 'uid is required' }),
      error('group', { isPresent: 'group is required' }),
    ]);
    expect(exception).toBeInstanceOf(BadRequestException);
    expect(exception.getStatus()).toBe(400);
    expect(exception.getResponse()).toEqual({ statusCode: 400, error: 'Bad Request', message: 'uid is required' });
  });

  it('reports the first field that failed, in the order class-validator lists them (declaration order)', () => {
    expect(firstMessage([error('ok', {}), error('b', { isString: 'b must be a string' }), error('a', { x: 'a' })])).toBe(
      'b must be a string',
    );
  });

  it('reports the most basic failed check of that field, whatever order the constraints came in', () => {
    const all = {
      isWellFormedUnicode: 'ill-formed',
      maxChars: 'too long',
      isString: 'not a string',
      isPresent: 'required',
      exactlyOneOf: 'exactly one',
    };
    expect(Object.keys(all).reverse()).toEqual([...CHECK_ORDER]);
    expect(firstMessage([error('f', all)])).toBe('exactly one');
    const { exactlyOneOf: _1, ...noRule } = all;
    expect(firstMessage([error('f', noRule)])).toBe('required');
    const { isPresent: _2, ...present } = noRule;
    expect(firstMessage([error('f', present)])).toBe('not a string');
    const { isString: _3, ...text } = present;
    expect(firstMessage([error('f', text)])).toBe('too long');
  });

  it('puts constraints it does not rank after the ranked ones, keeping their own order', () => {
    expect(firstMessage([error('f', { isIn: 'f must be true', other: 'other', maxChars: 'too long' })])).toBe('too long');
    expect(firstMessage([error('f', { isIn: 'f must be true', other: 'other' })])).toBe('f must be true');
  });

  it('looks into nested errors when a field has none of its own', () => {
    expect(firstMessage([error('outer', undefined, [error('inner', { isString: 'inner must be a string' })])])).toBe(
      'inner must be a string',
    );
  });

  it('still answers a 400 when no error carries a message', () => {
    expect(firstErrorAsBadRequest([]).getResponse()).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: FALLBACK_MESSAGE,
    });
    expect(firstMessage([error('f', {}, [])])).toBeUndefined();
  });
});
