import { createHmac } from 'node:crypto';
import { LoginCookie } from './login-cookie';

describe('LoginCookie', () => {
  const cookie = new LoginCookie('secret');
  const header = (value: string) => `other=1; push_demo_uid=${encodeURIComponent(value)}`;

  it('reads back what it signed, from a Cookie header as a browser sends it', () => {
    expect(cookie.read(header(cookie.sign('alice')))).toBe('alice');
    expect(cookie.read(header(cookie.sign('a.b.c')))).toBe('a.b.c');
  });

  it('uses the Express / cookie-parser signed-cookie format', () => {
    const mac = createHmac('sha256', 'secret').update('bob').digest('base64').replace(/=+$/, '');
    expect(cookie.sign('bob')).toBe(`s:bob.${mac}`);
  });

  it.each([
    ['no header', undefined],
    ['no login cookie', 'other=1'],
    ['an unsigned value', header('alice')],
    ['a forged signature', header('s:alice.forgedsignature')],
    ['a signature of another uid', header(`s:mallory.${cookie.sign('alice').split('.')[1]}`)],
    ['a signature made with another secret', header(new LoginCookie('other').sign('alice'))],
    ['an empty uid', header(`s:.${createHmac('sha256', 'secret').update('').digest('base64').replace(/=+$/, '')}`)],
  ])('refuses %s', (_label, value) => {
    expect(cookie.read(value)).toBeNull();
  });

  it('refuses a forged value even after the genuine one was cached', () => {
    const genuine = cookie.sign('carol');
    expect(cookie.read(header(genuine))).toBe('carol');
    expect(cookie.read(header(genuine.slice(0, -2) + 'xx'))).toBeNull();
    expect(cookie.read(header(genuine))).toBe('carol');
  });
});
