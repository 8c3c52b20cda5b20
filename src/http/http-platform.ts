/** The HTTP platforms the example app runs on (`HTTP_PLATFORM`); both serve exactly the same HTTP contract. */
export const HTTP_PLATFORMS = ['express', 'fastify'] as const;

/** `express` (`@nestjs/platform-express`, the default) or `fastify` (`@nestjs/platform-fastify`). */
export type HttpPlatform = (typeof HTTP_PLATFORMS)[number];

/** Reads `HTTP_PLATFORM` (case-insensitive; unset or empty = `express`), failing fast on anything else. */
export function parseHttpPlatform(name: string, raw: string | undefined): HttpPlatform {
  if (raw === undefined || raw.trim() === '') return 'express';
  const value = raw.trim().toLowerCase();
  if ((HTTP_PLATFORMS as readonly string[]).includes(value)) return value as HttpPlatform;
  throw new Error(`${name} must be ${HTTP_PLATFORMS.join(' or ')}, got "${raw}"`);
}

/**
 * Bytes in a body limit written the way body-parser takes it (`16kb`, `1mb`, `512b`, `2048`; 1 kb = 1024 bytes), so
 * both platforms enforce the same number from the same setting.
 */
export function parseByteLimit(limit: string | number): number {
  if (typeof limit === 'number') return limit;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!match) throw new Error(`body limit must look like 16kb, got "${limit}"`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? 'b').toLowerCase() as 'b'];
  return Math.floor(Number(match[1]) * unit);
}
