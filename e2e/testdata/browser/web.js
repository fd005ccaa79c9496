// Drives the control plane's web page in headless Chromium like a person would, and prints
// what it saw as JSON on stdout. Used by e2e/web_test.go:
//   node web.js '<JSON config>'
// config: {scenario: "tour" | "reload", pageURL, userDataDir, username, password, filePath,
//          fileName, failureScreenshotPath (optional: where the page is captured when a step
//          fails), screenshotPath and downloadPath (tour), smallPath, smallName, dropName and
//          dropText (reload)}
'use strict';
const { chromium } = require('playwright-core');

const step = 60000; // ms any one step may take

// What the page showed, printed even when a step fails, so the test can say how far it got.
const out = { console: [], pageErrors: [], storage: [] };

async function main() {
  const cfg = JSON.parse(process.argv[2] || '{}');
  for (const k of ['scenario', 'pageURL', 'userDataDir', 'username', 'password', 'filePath', 'fileName']) {
    if (!cfg[k]) throw new Error(`config lacks ${k}`);
  }
  const scenario = { tour, reload }[cfg.scenario];
  if (!scenario) throw new Error(`no scenario ${cfg.scenario}`);
  const context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1100, height: 800 },
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
    // Intercepting the file chooser is switched on by the first listener, asynchronously: a
    // listener from the start means it is on before any key opens one.
    page.on('filechooser', () => {});
    // Every request the page sends to the storage node, with how it ended. A part is S3's
    // partNumber, or on GCS the number its part object is named with (<key>~part/NNNNN).
    const pageOrigin = new URL(cfg.pageURL).origin;
    const track = (req, outcome) => {
      const u = new URL(req.url());
      if (u.origin === pageOrigin) return;
      const gcsPart = /~part\/(\d+)$/.exec(u.pathname);
      out.storage.push({
        method: req.method(),
        part: Number(u.searchParams.get('partNumber') || (gcsPart && gcsPart[1]) || 0),
        outcome,
        at: Date.now(),
      });
    };
    page.on('requestfinished', async (req) => {
      const resp = await req.response();
      track(req, resp ? resp.status() : 0);
    });
    page.on('requestfailed', (req) => track(req, 'failed: ' + (req.failure() || {}).errorText));
    // The parts the store held when the page asked, on resuming (a part whose request the
    // pause aborted may still have arrived whole).
    page.on('response', async (resp) => {
      if (resp.request().method() === 'GET' && /^\/v1\/uploads\/[^/]+\/parts$/.test(new URL(resp.url()).pathname)) {
        try {
          out.storedAtResume = (await resp.json()).parts.map((p) => p.part_number);
        } catch (e) {
          out.storedAtResume = [`unreadable: ${e}`];
        }
      }
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    try {
      await scenario(page, cdp, cfg);
    } catch (e) {
      if (cfg.failureScreenshotPath) {
        await page.screenshot({ path: cfg.failureScreenshotPath, fullPage: true }).then(
          () => { out.failureScreenshot = cfg.failureScreenshotPath; },
          (err) => { out.failureScreenshot = `none: ${err}`; });
      }
      throw e;
    }
  } finally {
    await context.close();
  }
}

/** Records what the live region says, in order, into window.__announced. */
async function listen(page) {
  await page.evaluate(() => {
    window.__announced = [];
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) window.__announced.push(n.textContent);
    }).observe(document.getElementById('announcer'), { childList: true });
  });
}

async function signIn(page, cfg) {
  await page.getByLabel('Username').fill(cfg.username);
  await page.getByLabel('Password').fill(cfg.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Upload files' }).waitFor();
}

/** Caps the browser's upload rate (bytes/s; -1: none), so a pause or reload lands mid-upload. */
async function throttle(cdp, bps) {
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bps,
  });
}

/** Samples the transfer's row into out.progress until at least one part is stored (not all). */
async function untilSomePartsStored(page, row) {
  const started = Date.now();
  out.progress = out.progress || [];
  for (;;) {
    const s = await row.evaluate((li) => {
      const p = li.querySelector('progress');
      return { value: p.value, max: p.max, state: li.dataset.state, status: li.querySelector('.upload-status').textContent };
    });
    out.progress.push(s);
    const m = /(\d+) of (\d+) parts/.exec(s.status);
    if (s.state === 'uploading' && m && Number(m[1]) >= 1 && Number(m[1]) < Number(m[2])) return;
    if (s.state === 'completed' || s.state === 'failed' || Date.now() - started > step) {
      throw new Error(`the upload never reached a point with some parts stored: ${JSON.stringify(s)}`);
    }
    await page.waitForTimeout(50);
  }
}

async function untilEnded(page, name) {
  await page.waitForFunction((n) => {
    const li = [...document.querySelectorAll('#uploads li')].find((l) => l.textContent.includes(n));
    return li && (li.dataset.state === 'completed' || li.dataset.state === 'failed');
  }, name, { timeout: 2 * step });
}

/**
 * The whole tour: sign in, keyboard to the drop zone, upload with pause and resume, listed,
 * screenshot, download, delete (after Escape once), sign out.
 */
async function tour(page, cdp, cfg) {
  await page.goto(cfg.pageURL);
  await listen(page);
  await signIn(page, cfg);
  out.whoami = await page.locator('#whoami').textContent();
  out.token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('presign.session') || '{}').token || '');

  // Keyboard: from where sign-in leaves the focus, Tab reaches the drop zone, which opens the
  // file chooser on Enter.
  out.tabs = [];
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const a = document.activeElement;
      const s = getComputedStyle(a);
      return { id: a.id, tag: a.tagName.toLowerCase(), role: a.getAttribute('role') || '', outline: `${s.outlineStyle} ${s.outlineWidth}` };
    });
    out.tabs.push(f);
    if (f.id === 'drop-zone') break;
  }

  // Slow the browser's uploads down, so that the pause lands in the middle.
  await throttle(cdp, 6 * 1024 * 1024);
  const chooser = page.waitForEvent('filechooser');
  await page.keyboard.press('Enter');
  await (await chooser).setFiles(cfg.filePath);

  // Live progress: sample the bar until at least one part is stored, then pause.
  const row = page.locator('#uploads li').filter({ hasText: cfg.fileName });
  const bar = row.locator('progress');
  await untilSomePartsStored(page, row);
  out.barName = await bar.getAttribute('aria-label');
  await page.getByRole('button', { name: `Pause upload of ${cfg.fileName}`, exact: true }).click();
  await row.locator('.upload-status', { hasText: /^Paused/ }).waitFor();
  out.pausedAt = Date.now();
  out.pausedValue = await bar.evaluate((p) => p.value);
  await page.waitForTimeout(1000);
  out.pausedValueLater = await bar.evaluate((p) => p.value);
  out.pausedStatus = await row.locator('.upload-status').textContent();

  // Full speed again, and resume: only the parts the store lacks are sent.
  await throttle(cdp, -1);
  out.resumedAt = Date.now();
  await page.getByRole('button', { name: `Resume upload of ${cfg.fileName}`, exact: true }).click();
  await untilEnded(page, cfg.fileName);
  out.finalStatus = await row.locator('.upload-status').textContent();
  out.finalState = await row.getAttribute('data-state');

  // Listed as completed, with its name as text (never as markup).
  const fileRow = page.locator('#files-body tr').filter({ hasText: cfg.fileName });
  await fileRow.waitFor();
  out.row = await fileRow.locator('td').allTextContents();
  out.injected = await page.locator('#files-body img, #uploads img, #files-body b, #uploads b').count();
  // The bar eases to its last value over 0.2 s: the artifact shows it where it comes to rest.
  await page.waitForFunction((name) => {
    const bar = [...document.querySelectorAll('progress')].find((b) => b.getAttribute('aria-label') === `Upload of ${name}`);
    return bar && bar.value === bar.max;
  }, cfg.fileName);
  await page.waitForTimeout(400);
  await page.screenshot({ path: cfg.screenshotPath, fullPage: true });

  // Download through the page and save what the browser received.
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: `Download ${cfg.fileName}`, exact: true }).click();
  const dl = await download;
  await dl.saveAs(cfg.downloadPath);
  out.downloadName = dl.suggestedFilename();
  out.downloadFailure = await dl.failure();

  // Delete: Escape keeps the file, confirming deletes it.
  const del = page.getByRole('button', { name: `Delete ${cfg.fileName}`, exact: true });
  await del.click();
  const dialog = page.getByRole('dialog', { name: 'Delete file?' });
  await dialog.waitFor();
  out.dialogText = (await dialog.textContent()).replace(/\s+/g, ' ').trim();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  out.rowsAfterEscape = await fileRow.count();
  out.focusAfterEscape = await page.evaluate(() => document.activeElement.getAttribute('aria-label'));
  await del.click();
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  await fileRow.waitFor({ state: 'detached' });
  out.emptyShown = await page.locator('#files-empty').isVisible();

  out.announced = await page.evaluate(() => window.__announced);

  // Sign out forgets the token.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  out.tokenAfterSignOut = await page.evaluate(() => sessionStorage.getItem('presign.session'));
}

/**
 * A reload in the middle of a multipart upload: the page warns before leaving; after it, the
 * same file chosen again takes up the earlier upload and sends only the parts the store lacks.
 * Then a small file, sent in one PUT.
 */
async function reload(page, cdp, cfg) {
  await page.goto(cfg.pageURL);
  await signIn(page, cfg);
  await throttle(cdp, 6 * 1024 * 1024);
  await page.locator('#file-input').setInputFiles(cfg.filePath);
  const row = page.locator('#uploads li').filter({ hasText: cfg.fileName });
  await untilSomePartsStored(page, row);
  out.beforeUnload = [];
  page.on('dialog', (d) => {
    out.beforeUnload.push(d.type());
    d.accept();
  });
  out.reloadedAt = Date.now();
  await page.reload();
  await page.getByRole('heading', { name: 'Upload files' }).waitFor();
  await listen(page);
  await throttle(cdp, -1);
  out.resumedAt = Date.now();
  await page.locator('#file-input').setInputFiles(cfg.filePath);
  await untilEnded(page, cfg.fileName);
  out.finalState = await row.getAttribute('data-state');
  out.finalStatus = await row.locator('.upload-status').textContent();
  out.announced = await page.evaluate(() => window.__announced);
  await page.locator('#files-body tr').filter({ hasText: cfg.fileName }).waitFor();
  out.rows = await page.locator('#files-body tr').count();

  // A small file goes up in one PUT with the ticket's headers.
  await page.locator('#file-input').setInputFiles(cfg.smallPath);
  await untilEnded(page, cfg.smallName);
  out.smallState = await page.locator('#uploads li').filter({ hasText: cfg.smallName }).getAttribute('data-state');
  const smallRow = page.locator('#files-body tr').filter({ hasText: cfg.smallName });
  await smallRow.waitFor();
  out.smallRow = await smallRow.locator('td').allTextContents();

  // A file dropped on the drop zone, as a browser delivers one: dragenter and dragover, which
  // the zone must cancel for the browser to fire the drop at all, then the drop, all carrying
  // a DataTransfer that holds the file. (Chromium ignores dropEffect on a DataTransfer made by
  // a script, so the page's choice of "copy" cannot be seen from here.)
  const dt = await page.evaluateHandle(({ name, text }) => {
    const d = new DataTransfer();
    d.items.add(new File([text], name, { type: 'text/plain' }));
    return d;
  }, { name: cfg.dropName, text: cfg.dropText });
  await page.evaluate(() => { window.__announced = []; });
  out.drop = await page.locator('#drop-zone').evaluate((zone, d) => {
    const fire = (type) => !zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: d }));
    const r = { enterCancelled: fire('dragenter'), draggingOnEnter: zone.classList.contains('dragging') };
    r.overCancelled = fire('dragover');
    fire('drop');
    r.draggingAfterDrop = zone.classList.contains('dragging');
    return r;
  }, dt);
  await untilEnded(page, cfg.dropName);
  out.dropState = await page.locator('#uploads li').filter({ hasText: cfg.dropName }).getAttribute('data-state');
  out.dropAnnounced = await page.evaluate(() => window.__announced);
  const dropRow = page.locator('#files-body tr').filter({ hasText: cfg.dropName });
  await dropRow.waitFor();
  out.dropRow = await dropRow.locator('td').allTextContents();
}

main().then(() => {
  process.stdout.write(JSON.stringify(out) + '\n');
}, (e) => {
  out.error = String(e.stack || e);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(1);
});
