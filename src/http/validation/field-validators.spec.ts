import { validate } from 'class-validator';
import { ExactlyOneOf } from './exactly-one-of.validator';
import { firstMessage } from './first-error.exception-factory';
import { IsPresent } from './is-present.validator';
import { IsWellFormedUnicode } from './is-well-formed-unicode.validator';
import { MaxChars } from './max-chars.validator';
import { OptionalField } from './optional-field.decorator';
import { RequiredString } from './required-string.decorator';

/** Validates `fields` as an instance of `Dto` and answers what the app would answer: the first message, or null. */
async function answer<T extends object>(Dto: new () => T, fields: Record<string, unknown>): Promise<string | null> {
  const dto = Object.assign(new Dto(), fields);
  return firstMessage(await validate(dto)) ?? null;
}

describe('field validators', () => {
  class Present {
    @IsPresent() name?: unknown;
  }
  class Short {
    @MaxChars(3) name?: unknown;
  }
  class WellFormed {
    @IsWellFormedUnicode() name?: unknown;
  }
  class Text {
    @RequiredString(4) name?: unknown;
  }
  class Omittable {
    @OptionalField() @RequiredString(4) name?: unknown;
  }
  class OneTarget {
    @ExactlyOneOf(['a', 'b']) always?: unknown;
    a?: unknown;
    b?: unknown;
  }

  it.each([undefined, null, ''])('IsPresent refuses %p as "is required"', async (name) => {
    expect(await answer(Present, { name })).toBe('name is required');
  });

  it.each([0, false, ' ', [], {}, 'x'])('IsPresent accepts %p (its type is judged elsewhere)', async (name) => {
    expect(await answer(Present, { name })).toBeNull();
  });

  it('MaxChars counts UTF-16 code units, as the push module does (an emoji is two)', async () => {
    expect(await answer(Short, { name: 'abc' })).toBeNull();
    expect(await answer(Short, { name: 'abcd' })).toBe('name must be at most 3 characters');
    expect(await answer(Short, { name: 'a😀' })).toBeNull();
    expect(await answer(Short, { name: '😀😀' })).toBe('name must be at most 3 characters');
  });

  it.each([undefined, null, 12345, ['abcd']])('MaxChars leaves a non-string (%p) to other checks', async (name) => {
    expect(await answer(Short, { name })).toBeNull();
  });

  it.each([['\ud800'], ['a\udc00b'], ['\ude00\ud83d']])('IsWellFormedUnicode refuses %p', async (name) => {
    expect(await answer(WellFormed, { name })).toBe(
      'name must be well-formed Unicode (it contains a lone UTF-16 surrogate)',
    );
  });

  it.each([['😀'], ['\ufffd'], [''], [42], [undefined]])('IsWellFormedUnicode accepts %p', async (name) => {
    expect(await answer(WellFormed, { name })).toBeNull();
  });

  it.each([
    ['absent', undefined, 'name is required'],
    ['null', null, 'name is required'],
    ['empty', '', 'name is required'],
    ['a number', 7, 'name must be a string'],
    ['an array', ['a'], 'name must be a string'],
    ['too long', 'abcde', 'name must be at most 4 characters'],
    ['too long and ill-formed', '\ud800bcde', 'name must be at most 4 characters'],
    ['ill-formed', 'a\ud800', 'name must be well-formed Unicode (it contains a lone UTF-16 surrogate)'],
    ['fine', 'abcd', null],
  ])('RequiredString: %s → %p', async (_label, name, expected) => {
    expect(await answer(Text, { name })).toBe(expected);
  });

  it('OptionalField skips the checks only for undefined: null and "" are judged', async () => {
    expect(await answer(Omittable, {})).toBeNull();
    expect(await answer(Omittable, { name: undefined })).toBeNull();
    expect(await answer(Omittable, { name: null })).toBe('name is required');
    expect(await answer(Omittable, { name: '' })).toBe('name is required');
    expect(await answer(Omittable, { name: 'abcde' })).toBe('name must be at most 4 characters');
  });

  it.each([
    [{}, false],
    [{ a: 1 }, true],
    [{ b: null }, true],
    [{ a: 1, b: 2 }, false],
    [{ a: null, b: 'x' }, false],
    [{ a: undefined, b: 'x' }, true],
  ])('ExactlyOneOf(a, b) on %p: valid %p (null counts as given)', async (fields, valid) => {
    expect(await answer(OneTarget, fields)).toBe(valid ? null : 'give exactly one of a, b');
  });
});
