import { ArgumentMetadata, Injectable, ValidationPipe } from '@nestjs/common';
import { badRequest } from './bad-request';
import { firstErrorAsBadRequest } from './first-error.exception-factory';

/** The answer to a body that is not an object (a JSON array, no body, a content type no parser read). */
export const NOT_AN_OBJECT = 'body must be a JSON object or an application/x-www-form-urlencoded form';

/**
 * The example app's `ValidationPipe`, registered once as `APP_PIPE` (so `npm start` and every test share it). It
 * validates each `@Body()` / `@Param()` / `@Query()` whose type is a DTO class, and keeps the app's HTTP contract:
 * - a failure is one 400 with a single string `message` (see `firstErrorAsBadRequest`);
 * - a body that is not an object answers {@link NOT_AN_OBJECT} (stock ValidationPipe would validate `{}` in its
 *   place, or answer "Validation failed (object is expected)");
 * - handlers get the value exactly as the body parser or router made it, not a DTO instance (no `transform`), with
 *   fields the DTO does not name left in place and ignored (no `whitelist`).
 *
 * It validates a copy: a body's top-level fields, nested values replaced by empty ones (see `topLevelCopy`); a
 * route parameter or query through `structuredClone`. Stock ValidationPipe deletes
 * `__proto__`, `prototype` and `constructor` keys at every depth of the value, in place, before class-transformer
 * reads it (class-transformer throws on some of them, e.g. `{"constructor": null}`): done on the body itself, that
 * would rewrite the opaque `message` of `POST /send`, which recipients must get as sent. On the copy it protects
 * class-transformer all the same, and the handler gets what `JSON.parse` made, where `__proto__` is an ordinary
 * own key (no prototype is reached through it; the push module serialises it back as it came).
 */
@Injectable()
export class AppValidationPipe extends ValidationPipe {
  constructor() {
    // No validator option on purpose: with any, ValidationPipe returns `classToPlain(dto)` instead of the value.
    super({ exceptionFactory: firstErrorAsBadRequest });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (!metadata.metatype || !this.toValidate(metadata)) return super.transform(value, metadata);
    if (metadata.type === 'body' && !isObjectBody(value)) throw badRequest(NOT_AN_OBJECT);
    await super.transform(metadata.type === 'body' ? topLevelCopy(value as object) : structuredClone(value), metadata);
    return value;
  }
}

/**
 * The body's own fields, with every object or array among them replaced by an empty one of the same kind. The DTOs
 * judge top-level fields only (a nested value such as `message` is opaque, checked for presence); stock
 * ValidationPipe and class-transformer walk whatever they are given recursively, and a deeply nested `message` (a
 * 6 KB body of `[[[…]]]`) overflowed the stack into a 500. Copying also keeps their key stripping off the body.
 */
function topLevelCopy(body: object): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(body)) {
    const opaque = typeof field === 'object' && field !== null ? (Array.isArray(field) ? [] : {}) : field;
    Object.defineProperty(copy, key, { value: opaque, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

/** A JSON object or a parsed form (whose prototype is null): not an array, not binary, not a primitive. */
function isObjectBody(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}
