import { loadConfig } from '../app.config';
import { parseByteLimit, parseHttpPlatform } from './http-platform';

describe('HTTP_PLATFORM', () => {
  it('defaults to express, and reads express or fastify in any case', () => {
    expect(parseHttpPlatform('HTTP_PLATFORM', undefined)).toBe('express');
    expect(parseHttpPlatform('HTTP_PLATFORM', '')).toBe('express');
    expect(parseHttpPlatform('HTTP_PLATFORM', 'fastify')).toBe('fastify');
    expect(parseHttpPlatform('HTTP_PLATFORM', ' Fastify ')).toBe('fastify');
    expect(parseHttpPlatform('HTTP_PLATFORM', 'EXPRESS')).toBe('express');
  });

  it('refuses anything else with a message that names the variable, the choices and the value', () => {
    expect(() => parseHttpPlatform('HTTP_PLATFORM', 'koa')).toThrow('HTTP_PLATFORM must be express or fastify, got "koa"');
    expect(() => loadConfig({ HTTP_PLATFORM: 'fastify2' })).toThrow(/HTTP_PLATFORM must be express or fastify/);
    expect(loadConfig({ HTTP_PLATFORM: 'fastify' }).httpPlatform).toBe('fastify');
    expect(loadConfig({}).httpPlatform).toBe('express');
  });
});

describe('parseByteLimit', () => {
  it('reads limits as body-parser does (1 kb = 1024 bytes)', () => {
    expect(parseByteLimit('16kb')).toBe(16 * 1024);
    expect(parseByteLimit('1MB')).toBe(1024 * 1024);
    expect(parseByteLimit('512b')).toBe(512);
    expect(parseByteLimit('2048')).toBe(2048);
    expect(parseByteLimit(100)).toBe(100);
  });

  it('refuses a limit it cannot read instead of guessing', () => {
    expect(() => parseByteLimit('16 kilobytes')).toThrow('body limit must look like 16kb, got "16 kilobytes"');
  });
});
