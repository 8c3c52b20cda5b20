import { redactUrl } from './redact-url';

describe('redactUrl', () => {
  it.each([
    ['redis://:s3cret@10.0.0.5:6379/2', 'redis://***@10.0.0.5:6379/2'],
    ['redis://alice:s3cret@cache.internal:6380', 'redis://***@cache.internal:6380'],
    ['rediss://default:p%40ss@[::1]:6379/0?family=6', 'rediss://***@[::1]:6379/0?family=6'],
    ['redis://user-only@host:6379', 'redis://***@host:6379'],
    // An unencoded '@' in the password: the URL parser takes the last '@' before the host as the separator.
    ['redis://:pa@ss@host:6379', 'redis://***@host:6379'],
  ])('hides the credentials of %s', (url, expected) => {
    const redacted = redactUrl(url);
    expect(redacted).toBe(expected);
    expect(redacted).not.toMatch(/s3cret|p%40ss|pa@ss|alice|user-only|default/);
  });

  it('hides credentials given as query parameters (ioredis reads ?password= and ?username= as options)', () => {
    expect(redactUrl('redis://host:6379?password=s3cret')).toBe('redis://host:6379?password=***');
    expect(redactUrl('redis://host:6379/1?family=4&Username=alice&PASSWORD=s3cret')).toBe(
      'redis://host:6379/1?family=4&Username=***&PASSWORD=***',
    );
    expect(redactUrl('redis://:x@host?password=s3cret')).toBe('redis://***@host?password=***');
  });

  it('keeps a URL without credentials as it is', () => {
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('redis://127.0.0.1:6379/3')).toBe('redis://127.0.0.1:6379/3');
  });

  it('does not echo something that is not a URL (it may be a misplaced secret)', () => {
    expect(redactUrl('hunter2')).toBe('(unparseable URL)');
  });
});
