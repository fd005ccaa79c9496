// Opens a page in headless Chromium and prints what its script leaves in window.__result, as
// JSON on stdout. Used by storage/browser_test.go:
//   node upload.js <page URL> <fresh user-data-dir>
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [pageURL, userDataDir] = process.argv.slice(2);
  if (!pageURL || !userDataDir) {
    throw new Error('usage: node upload.js <page URL> <user-data-dir>');
  }
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  try {
    const page = await context.newPage();
    page.on('console', (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e}\n`));
    await page.goto(pageURL);
    const handle = await page.waitForFunction(() => window.__result, null, { timeout: 60000 });
    process.stdout.write(JSON.stringify(await handle.jsonValue()) + '\n');
  } finally {
    await context.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
