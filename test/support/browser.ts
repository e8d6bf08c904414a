import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium through playwright-core (a downloaded browser build is never used): headless,
 * no sandbox (tests run as root), and none of the background traffic a fresh profile makes.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
