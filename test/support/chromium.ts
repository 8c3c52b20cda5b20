import { chromium, type Browser } from 'playwright-core';

/**
 * The flags this machine's headless Debian Chromium needs (see the design pitfalls): no sandbox as root, and no
 * background networking, whose connections the closed network refuses many at a time.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts headless Chromium (`CHROMIUM_PATH`, default Debian's `/usr/bin/chromium`) for a browser suite. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}
