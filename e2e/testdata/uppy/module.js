// Drives the application page that uses presign.js (module.html) in headless Chromium and
// prints what happened as JSON on stdout. Used by e2e/module_test.go:
//   node module.js '<JSON config>'
// config: {pageURL (with ?module=&token=), userDataDir, files: [paths], scenario: "upload" |
//          "pause" | "cancel" | "reload", afterParts (act once this many parts are stored),
//          uploadBps (optional cap of the upload rate)}
'use strict';
const { chromium } = require('playwright-core');

const step = 120000;
const out = { console: [], pageErrors: [], requests: [] };

async function main() {
  const cfg = JSON.parse(process.argv[2] || '{}');
  for (const k of ['pageURL', 'userDataDir', 'files', 'scenario']) {
    if (!cfg[k]) throw new Error(`config lacks ${k}`);
  }
  const scenario = { upload, pause, cancel, reload }[cfg.scenario];
  if (!scenario) throw new Error(`no scenario ${cfg.scenario}`);
  const context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(step);
    page.on('console', (m) => {
      out.console.push(`${m.type()}: ${m.text()}`);
      process.stderr.write(`console.${m.type()}: ${m.text()}\n`);
    });
    page.on('pageerror', (e) => out.pageErrors.push(String(e)));
    const pageOrigin = new URL(cfg.pageURL).origin;
    // start is when the browser began the request (its wall clock, known once a response
    // came), so the requests of a page that is gone order before those of its reload however
    // late their events reach this script. listed is what a listing of stored parts answered.
    const track = (req, outcome, listed) => {
      const u = new URL(req.url());
      if (u.origin === pageOrigin) return;
      out.requests.push({ method: req.method(), origin: u.origin, path: u.pathname, comp: u.searchParams.get('comp') || '',
        part: Number(u.searchParams.get('partNumber') || 0), auth: !!req.headers().authorization, outcome,
        start: Math.round(req.timing().startTime), listed });
    };
    page.on('requestfinished', async (req) => {
      const resp = await req.response().catch(() => null);
      let listed;
      if (resp && resp.ok() && req.method() === 'GET' && /^\/v1\/uploads\/[^/]+\/parts$/.test(new URL(req.url()).pathname)) {
        listed = await resp.json().then((b) => b.parts.map((p) => p.part_number), () => undefined);
      }
      track(req, resp ? resp.status() : 0, listed);
    });
    page.on('requestfailed', (req) => track(req, 'failed: ' + (req.failure() || {}).errorText));
    if (cfg.uploadBps) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: cfg.uploadBps });
    }
    await open(page, cfg);
    try {
      await scenario(page, cfg);
    } finally {
      out.transfers = await page.evaluate(() => window.__view()).catch(() => []);
    }
  } finally {
    await context.close();
  }
}

async function open(page, cfg) {
  await page.goto(cfg.pageURL);
  await page.waitForFunction(() => window.__ready === true);
}

async function choose(page, files) {
  await page.locator('#pick').setInputFiles(files);
}

const ended = () => window.__transfers.length > 0 && window.__transfers.every((r) => ['completed', 'failed', 'cancelled'].includes(r.t.state));

async function upload(page, cfg) {
  await choose(page, cfg.files);
  await page.waitForFunction(ended);
}

async function untilParts(page, n) {
  await page.waitForFunction((k) => window.__transfers[0] && window.__transfers[0].t.done.size >= k, n);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pause(page, cfg) {
  await choose(page, cfg.files);
  await untilParts(page, cfg.afterParts);
  // The page's clock, read where it acts: a request started after pausedAt started paused.
  [out.pausedAt, out.partsAtPause] = await page.evaluate(() => {
    const at = Date.now();
    window.__transfers[0].t.pause();
    return [at, window.__transfers[0].t.done.size];
  });
  await sleep(1500);
  out.stateWhilePaused = await page.evaluate(() => window.__transfers[0].t.state);
  out.resumedAt = await page.evaluate(() => {
    const at = Date.now();
    window.__transfers[0].t.resume();
    return at;
  });
  await page.waitForFunction(ended);
}

async function cancel(page, cfg) {
  await choose(page, cfg.files);
  await untilParts(page, cfg.afterParts);
  out.cancelledAt = Date.now();
  await page.evaluate(() => window.__transfers[0].t.cancel());
  await page.waitForFunction(ended);
  await sleep(500);
}

/** Reloads the page in the middle of a multipart upload and chooses the same file again. */
async function reload(page, cfg) {
  await choose(page, cfg.files);
  await untilParts(page, cfg.afterParts);
  out.firstID = await page.evaluate(() => window.__transfers[0].t.id);
  out.reloadedAt = Date.now();
  await page.reload();
  await page.waitForFunction(() => window.__ready === true);
  await choose(page, cfg.files);
  await page.waitForFunction(ended);
}

main().then(
  () => process.stdout.write(JSON.stringify(out)),
  (e) => {
    out.error = String(e && e.stack ? e.stack : e);
    process.stdout.write(JSON.stringify(out));
    process.exitCode = 1;
  });
