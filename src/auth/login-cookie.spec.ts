import { createHmac } from 'node:crypto';
import { DEFAULT_LOGIN_TTL_SECONDS, LoginCookie } from './login-cookie';

describe('LoginCookie', () => {
  const T0 = Date.UTC(2030, 0, 1); // a whole second
  let clock = T0;
  const cookie = new LoginCookie('secret', { now: () => clock });
  const header = (value: string) => `other=1; push_demo_uid=${encodeURIComponent(value)}`;
  const mac = (value: string, secret = 'secret') =>
    createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '');
  const inOneDay = T0 / 1000 + DEFAULT_LOGIN_TTL_SECONDS;

  beforeEach(() => {
    clock = T0;
  });

  it('reads back what it signed, from a Cookie header as a browser sends it', () => {
    expect(cookie.read(header(cookie.sign('alice')))).toBe('alice');
    expect(cookie.read(header(cookie.sign('a.b.c')))).toBe('a.b.c');
    expect(cookie.read(header(cookie.sign('123.456')))).toBe('123.456');
  });

  it('uses the Express / cookie-parser signed format, with the expiry (Unix seconds) inside the signed value', () => {
    const value = `${inOneDay}.bob`;
    expect(cookie.sign('bob')).toBe(`s:${value}.${mac(value)}`);
  });

  it('expires 24 h after signing by default, and after ttlSeconds when given', () => {
    const signed = cookie.sign('alice');
    clock = T0 + DEFAULT_LOGIN_TTL_SECONDS * 1000 - 1;
    expect(cookie.read(header(signed))).toBe('alice');
    clock = T0 + DEFAULT_LOGIN_TTL_SECONDS * 1000;
    expect(cookie.read(header(signed))).toBeNull();

    const short = new LoginCookie('secret', { ttlSeconds: 60, now: () => clock });
    clock = T0 + 500; // mid-second: rounded up, so it never lives shorter than its Max-Age
    const brief = short.sign('alice');
    expect(brief).toBe(`s:${T0 / 1000 + 61}.alice.${mac(`${T0 / 1000 + 61}.alice`)}`);
    clock = T0 + 60_500;
    expect(short.read(header(brief))).toBe('alice');
    clock = T0 + 61_000;
    expect(short.read(header(brief))).toBeNull();
  });

  it('signs a given expiry, and refuses it once past, even after it was cached as valid', () => {
    const signed = cookie.sign('carol', T0 / 1000 + 10);
    expect(cookie.read(header(signed))).toBe('carol'); // cached now
    clock = T0 + 10_000;
    expect(cookie.read(header(signed))).toBeNull();
    clock = T0; // and it is not kept in the cache as valid
    expect(cookie.read(header(cookie.sign('carol', T0 / 1000 - 1)))).toBeNull();
  });

  it.each([
    ['no header', undefined],
    ['no login cookie', 'other=1'],
    ['an unsigned value', header('alice')],
    ['an unsigned value with an expiry', header(`${T0 / 1000 + 60}.alice`)],
    ['a forged signature', header(`s:${T0 / 1000 + 60}.alice.forgedsignature`)],
    ['a signature of another uid', header(`s:${inOneDay}.mallory.${mac(`${inOneDay}.alice`)}`)],
    ['an extended expiry under the original signature', header(`s:${inOneDay + 1}.alice.${mac(`${inOneDay}.alice`)}`)],
    ['a signature made with another secret', header(new LoginCookie('other').sign('alice'))],
    ['an empty uid', header(`s:${inOneDay}..${mac(`${inOneDay}.`)}`)],
    ['a cookie of the earlier format, without expiry', header(`s:alice.${mac('alice')}`)],
    ['a non-decimal expiry', header(`s:1e99.alice.${mac('1e99.alice')}`)],
    ['an expiry with a leading zero', header(`s:0${inOneDay}.alice.${mac(`0${inOneDay}.alice`)}`)],
    ['an absurdly long expiry', header(`s:${'9'.repeat(16)}.alice.${mac(`${'9'.repeat(16)}.alice`)}`)],
  ])('refuses %s', (_label, value) => {
    expect(cookie.read(value)).toBeNull();
  });

  it('refuses a forged value even after the genuine one was cached', () => {
    const genuine = cookie.sign('carol');
    expect(cookie.read(header(genuine))).toBe('carol');
    expect(cookie.read(header(genuine.slice(0, -2) + 'xx'))).toBeNull();
    expect(cookie.read(header(genuine))).toBe('carol');
  });

  it('writes the login Set-Cookie line: Max-Age = ttl, Expires = now + ttl, HttpOnly, SameSite=Lax, not Secure over http', () => {
    clock = T0 + 500;
    const signed = encodeURIComponent(cookie.sign('alice'));
    expect(cookie.loginHeader('alice', false)).toBe(
      `push_demo_uid=${signed}; Max-Age=86400; Path=/; Expires=Wed, 02 Jan 2030 00:00:00 GMT; HttpOnly; SameSite=Lax`,
    );
  });

  it('percent-encodes the value, so a uid with ; , = or spaces cannot add attributes', () => {
    const line = cookie.loginHeader('a; Domain=evil.example, b=c', false);
    expect(line.split('; ').slice(1)).toEqual(['Max-Age=86400', 'Path=/', expect.stringMatching(/^Expires=/), 'HttpOnly', 'SameSite=Lax']);
    expect(cookie.read(line.split(';')[0])).toBe('a; Domain=evil.example, b=c');
  });

  it('marks the cookie Secure over https in auto mode, always when forced on, never when forced off', () => {
    expect(cookie.loginHeader('alice', true)).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
    const forced = new LoginCookie('secret', { secure: true, ttlSeconds: 5, now: () => clock });
    expect(forced.loginHeader('alice', false)).toMatch(
      /; Max-Age=5; Path=\/; Expires=Tue, 01 Jan 2030 00:00:05 GMT; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect(forced.logoutHeader(false)).toMatch(/; Secure; SameSite=Lax$/);
    const never = new LoginCookie('secret', { secure: false });
    expect(never.loginHeader('alice', true)).not.toMatch(/Secure/);
    expect(never.logoutHeader(true)).not.toMatch(/Secure/);
  });

  it('writes the logout Set-Cookie line: empty value, expired in 1970, same Path / HttpOnly / SameSite', () => {
    expect(cookie.logoutHeader(false)).toBe(
      'push_demo_uid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    );
    expect(cookie.logoutHeader(true)).toBe(
      'push_demo_uid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    );
  });

  it('reads back the cookie its own Set-Cookie line carries, as a browser returns it', () => {
    const line = cookie.loginHeader('bob', false);
    expect(cookie.read(`x=1; ${line.split(';')[0]}`)).toBe('bob');
  });

  it.each([0, -1, 1.5, NaN])('refuses a ttlSeconds of %p', (ttlSeconds) => {
    expect(() => new LoginCookie('secret', { ttlSeconds })).toThrow(/ttlSeconds/);
  });
});
