import { isWellFormedString } from 'nest-push-channel';
import { BadRequestException } from '@nestjs/common';

/** Longest client_id field accepted before the push module judges its shape (a real one is 48 characters). */
export const MAX_CLIENT_ID_FIELD = 128;

/*
 * The example app accepts JSON and application/x-www-form-urlencoded bodies alike, so fields are read from an
 * untyped object and checked here; every failure is a 400 that names the field.
 */

/** Raised for a body that is not a JSON object or a form. */
export function asBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('body must be a JSON object or an application/x-www-form-urlencoded form');
  }
  return body as Record<string, unknown>;
}

/** A required, non-empty, well-formed string field of at most `max` characters. */
export function requiredString(body: Record<string, unknown>, field: string, max: number): string {
  const value = body[field];
  if (value === undefined || value === null || value === '') throw badRequest(`${field} is required`);
  if (typeof value !== 'string') throw badRequest(`${field} must be a string`);
  if (value.length > max) throw badRequest(`${field} must be at most ${max} characters`);
  return wellFormed(value, field);
}

/**
 * `value` itself when it is well-formed Unicode, else a 400 naming `field`. JSON can carry a lone UTF-16 surrogate
 * (`"\ud800"`); such a string cannot be written as UTF-8 (a cookie, Redis, a frame) without turning into U+FFFD,
 * so two different names would alias, or `encodeURIComponent` throws and the request ends in a 500.
 */
export function wellFormed(value: string, field: string): string {
  if (!isWellFormedString(value)) {
    throw badRequest(`${field} must be well-formed Unicode (it contains a lone UTF-16 surrogate)`);
  }
  return value;
}

/** An optional string field: absent is fine, but present must be non-empty, well-formed, at most `max` characters. */
export function optionalString(body: Record<string, unknown>, field: string, max: number): string | undefined {
  if (body[field] === undefined) return undefined;
  return requiredString(body, field, max);
}

/** A 400 in the same JSON shape Nest uses everywhere. */
export function badRequest(message: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message });
}
