// Drives the Uppy application page (page.js, bundled by the test) in headless Chromium and
// prints what happened as JSON on stdout. Used by e2e/uppy_test.go:
//   node uppy.js '<JSON config>'
// config: {pageURL (with ?companion=), userDataDir, files: [paths], scenario: "upload" | "pause" |
//          "cancel", afterParts (pause, cancel: act once this many parts were uploaded),
//          uploadBps (optional: cap the browser's upload rate), failureScreenshotPath (optional)}
'use strict';
const { chromium } = require('playwright-core');

const step = 120000; // ms any one step may take

// What happened, printed even when a step fails, so the test can say how far it got.
const out = { console: [], pageErrors: [], requests: [] };

async function main() {
  const cfg = JSON.parse(process.argv[2] || '{}');
  for (const k of ['pageURL', 'userDataDir', 'files', 'scenario']) {
    if (!cfg[k]) throw new Error(`config lacks ${k}`);
  }
  const scenario = { upload, pause, cancel }[cfg.scenario];
  if (!scenario) throw new Error(`no scenario ${cfg.scenario}`);
  const context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1000, height: 800 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(step);
    page.on('console', (m) => {
      out.console.push(`${m.type()}: ${m.text()}`);
      process.stderr.write(`console.${m.type()}: ${m.text()}\n`);
    });
    page.on('pageerror', (e) => out.pageErrors.push(String(e)));
    // Every request the page sends elsewhere than its own origin (presign's routes, storage),
    // with how it ended.
    const pageOrigin = new URL(cfg.pageURL).origin;
    const track = (req, outcome) => {
      const u = new URL(req.url());
      if (u.origin === pageOrigin) return;
      out.requests.push({ method: req.method(), origin: u.origin, path: u.pathname, query: u.search,
        part: Number(u.searchParams.get('partNumber') || 0), outcome, at: Date.now() });
    };
    page.on('requestfinished', async (req) => {
      const resp = await req.response();
      track(req, resp ? resp.status() : 0);
    });
    page.on('requestfailed', (req) => track(req, 'failed: ' + (req.failure() || {}).errorText));
    if (cfg.uploadBps) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: cfg.uploadBps,
      });
    }
    await page.goto(cfg.pageURL);
    await page.waitForFunction(() => window.uppy !== undefined);
    // Files are chosen the way a person does: through the Dashboard's file input.
    await page.locator('input.uppy-Dashboard-input').first().setInputFiles(cfg.files);
    await page.waitForFunction((n) => window.uppy.getFiles().length === n, cfg.files.length);
    try {
      await scenario(page, cfg);
    } catch (e) {
      if (cfg.failureScreenshotPath) {
        await page.screenshot({ path: cfg.failureScreenshotPath, fullPage: true }).then(
          () => { out.failureScreenshot = cfg.failureScreenshotPath; },
          (err) => { out.failureScreenshot = `none: ${err}`; });
      }
      throw e;
    } finally {
      out.events = await page.evaluate(() => window.__events).catch(() => []);
      out.files = await page.evaluate(() => window.uppy.getFiles().map((f) => ({
        name: f.name, type: f.type, size: f.size, error: f.error || '', complete: !!f.progress.uploadComplete,
      }))).catch(() => []);
    }
  } finally {
    await context.close();
  }
}

/** Presses the Dashboard's Upload button. */
async function startUpload(page) {
  await page.locator('button.uppy-StatusBar-actionBtn--upload').click();
}

async function untilComplete(page) {
  await page.waitForFunction(() => window.__events.some((e) => e.type === 'complete'), null, { timeout: step });
}

async function untilParts(page, n) {
  await page.waitForFunction((k) => window.__events.filter((e) => e.type === 'part').length >= k, n, { timeout: step });
}

const parts = (page) => page.evaluate(() => window.__events.filter((e) => e.type === 'part').length);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function upload(page) {
  out.startedAt = Date.now();
  await startUpload(page);
  await untilComplete(page);
}

/** Pauses the only file after cfg.afterParts parts, waits, and resumes it. */
async function pause(page, cfg) {
  await startUpload(page);
  await untilParts(page, cfg.afterParts);
  out.pausedAt = Date.now();
  await page.evaluate(() => window.uppy.pauseResume(window.uppy.getFiles()[0].id));
  out.partsAtPause = await parts(page);
  await sleep(1500);
  out.partsAfterWait = await parts(page);
  out.resumedAt = Date.now();
  await page.evaluate(() => window.uppy.pauseResume(window.uppy.getFiles()[0].id));
  await untilComplete(page);
}

/** Cancels every upload (the Dashboard's cancel) after cfg.afterParts parts. */
async function cancel(page, cfg) {
  await startUpload(page);
  await untilParts(page, cfg.afterParts);
  out.cancelledAt = Date.now();
  await page.evaluate(() => window.uppy.cancelAll());
  // The abort request is sent without waiting for it; give it time to arrive.
  await page.waitForFunction(() => window.uppy.getFiles().length === 0);
  await sleep(1500);
}

main().then(
  () => process.stdout.write(JSON.stringify(out)),
  (e) => {
    out.error = String(e && e.stack ? e.stack : e);
    process.stdout.write(JSON.stringify(out));
    process.exitCode = 1;
  });
