// The page: sign in, transfers, and the list of my files. Text that comes from users or the
// server (file names, types, messages) is only ever set with textContent or as an attribute
// value, never parsed as HTML.

import { API, APIError } from './api.js';
import { $, announce, el, formatBytes, messageOf, showError } from './dom.js';
import { FileTable } from './files.js';
import { ResumeBook, State, Transfer } from './presign.js';

const sessionKey = 'presign.session';
const maxActiveFiles = 2; // each multipart file already sends 4 parts at once

// ---- session -------------------------------------------------------------------------------

let api = new API('', null);
let me = null;
const fileTable = new FileTable(() => api, () => refreshMe());

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(sessionKey) || 'null');
    if (s && s.token && new Date(s.expires_at).getTime() > Date.now()) return s;
  } catch {
    // A damaged entry is no session.
  }
  sessionStorage.removeItem(sessionKey);
  return null;
}

function useSession(s) {
  api = new API(s ? s.token : '', sessionEnded);
}

function sessionEnded() {
  stopTransfers();
  sessionStorage.removeItem(sessionKey);
  useSession(null);
  me = null;
  showSignIn('Your session has ended. Sign in again to continue.');
}

function showSignIn(error) {
  $('app-view').hidden = true;
  $('account').hidden = true;
  $('sign-in-view').hidden = false;
  showError('sign-in-error', error || '');
  $('username').focus();
}

async function showApp() {
  $('sign-in-view').hidden = true;
  $('app-view').hidden = false;
  $('account').hidden = false;
  $('whoami').textContent = me.username;
  renderUsage();
  $('upload-title').focus();
  fileTable.reset();
  await fileTable.load();
}

function renderUsage() {
  if (!me) return;
  const quota = me.effective_policy && me.effective_policy.quota_bytes;
  const used = formatBytes(me.usage.bytes);
  $('usage').textContent = quota ? `${used} of ${formatBytes(quota)} used` : `${used} used`;
}

async function refreshMe() {
  try {
    me = await api.me();
    renderUsage();
  } catch {
    // The figures stay as they were; the next action reports a real problem.
  }
}

async function signIn(ev) {
  ev.preventDefault();
  const user = $('username');
  const pass = $('password');
  user.removeAttribute('aria-invalid');
  pass.removeAttribute('aria-invalid');
  const missing = [user, pass].filter((i) => !i.value.trim());
  if (missing.length > 0) {
    missing.forEach((i) => i.setAttribute('aria-invalid', 'true'));
    showError('sign-in-error', 'Enter your username and password.');
    missing[0].focus();
    return;
  }
  const button = $('sign-in-button');
  button.disabled = true;
  button.textContent = 'Signing in…';
  showError('sign-in-error', '');
  try {
    const s = await new API('', null).login(user.value.trim(), pass.value);
    const session = { token: s.token, expires_at: s.expires_at };
    sessionStorage.setItem(sessionKey, JSON.stringify(session));
    useSession(session);
    me = await api.me();
    pass.value = '';
    adoptTransfers();
    await showApp();
    announce(`Signed in as ${me.username}.`);
  } catch (e) {
    showError('sign-in-error', messageOf(e));
    pass.setAttribute('aria-invalid', 'true');
    pass.select();
    pass.focus();
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
  }
}

async function signOut() {
  if (transfers.some((x) => x.t.active) &&
      !window.confirm('Uploads are in progress. Large files can be resumed later by choosing them again. Sign out anyway?')) {
    return;
  }
  stopTransfers();
  try {
    await api.logout();
  } catch {
    // The token is forgotten here either way; it expires on the server.
  }
  sessionStorage.removeItem(sessionKey);
  useSession(null);
  me = null;
  for (const x of transfers) x.row.remove();
  transfers.length = 0;
  renderUploadsHead();
  fileTable.reset();
  showSignIn('');
  announce('Signed out.');
}

/**
 * After signing in again (a session that ended), the same user's paused transfers continue
 * with the new session; another user's are dropped.
 */
function adoptTransfers() {
  if (transfersOwner !== me.id) {
    for (const x of transfers) x.row.remove();
    transfers.length = 0;
    renderUploadsHead();
  }
  transfersOwner = me.id;
  for (const x of transfers) x.t.api = api;
}

/** Pauses multipart transfers (they can be resumed later) and cancels single PUTs. */
function stopTransfers() {
  for (const x of transfers) {
    if (x.t.pausable) x.t.pause();
    else if (x.t.active || x.t.state === State.queued) x.t.cancel().catch(() => {});
  }
}

// ---- transfers -----------------------------------------------------------------------------

/** @type {{t: Transfer, row: HTMLElement, parts: object, last: string, milestone: number}[]} */
const transfers = [];
let transfersOwner = ''; // the user id the transfers belong to
let renderScheduled = false;

const stateLabels = {
  [State.queued]: 'Waiting',
  [State.starting]: 'Starting…',
  [State.uploading]: 'Uploading',
  [State.paused]: 'Paused',
  [State.completing]: 'Finishing…',
  [State.completed]: 'Completed',
  [State.failed]: 'Failed',
  [State.cancelled]: 'Cancelled',
};

function addFiles(files) {
  if (!me || files.length === 0) return;
  const book = new ResumeBook(me.id);
  for (const file of files) {
    const x = { t: null, row: null, parts: null, last: '', milestone: 0, samples: [] };
    x.t = new Transfer(api, file, { book, onChange: () => changed(x) });
    buildRow(x);
    transfers.push(x);
    $('uploads').append(x.row);
  }
  renderUploadsHead();
  announce(files.length === 1 ? `Added ${files[0].name}.` : `Added ${files.length} files.`);
  pump();
}

/** Starts queued transfers while fewer than maxActiveFiles are running. */
function pump() {
  let running = transfers.filter((x) => x.t.active).length;
  for (const x of transfers) {
    if (running >= maxActiveFiles) break;
    if (x.t.state === State.queued) {
      running++;
      x.t.start();
    }
  }
}

function buildRow(x) {
  const name = x.t.file.name;
  const statusID = `upload-status-${transfers.length}-${Date.now()}`;
  const toggle = el('button', { type: 'button', class: 'button secondary small', hidden: '' });
  toggle.addEventListener('click', () => {
    if (x.t.pausable) x.t.pause();
    else if (x.t.resumable) x.t.resume().then(pump);
  });
  const cancel = el('button', { type: 'button', class: 'button secondary small', 'aria-label': `Cancel upload of ${name}`, text: 'Cancel' });
  cancel.addEventListener('click', () => {
    x.t.cancel().catch((e) => showRowError(x, e));
  });
  const remove = el('button', { type: 'button', class: 'button secondary small', 'aria-label': `Remove ${name} from transfers`, text: 'Remove', hidden: '' });
  remove.addEventListener('click', () => removeRow(x));
  const status = el('div', { class: 'upload-status', id: statusID });
  const progress = el('progress', { max: String(Math.max(x.t.total, 1)), value: '0', 'aria-label': `Upload of ${name}`, 'aria-describedby': statusID });
  x.row = el('li', { class: 'upload', 'data-state': x.t.state },
    el('div', { class: 'upload-name', text: name }),
    el('div', { class: 'upload-actions' }, toggle, cancel, remove),
    status,
    progress);
  x.parts = { toggle, cancel, remove, status, progress };
  renderRow(x);
}

function removeRow(x) {
  const i = transfers.indexOf(x);
  if (i >= 0) transfers.splice(i, 1);
  const next = x.row.nextElementSibling || x.row.previousElementSibling;
  x.row.remove();
  renderUploadsHead();
  // Keep the keyboard user's place: the next row's first visible button, or the drop zone.
  const target = next && [...next.querySelectorAll('button')].find((b) => !b.hidden);
  (target || $('drop-zone')).focus();
}

function showRowError(x, e) {
  x.t.error = e;
  renderRow(x);
}

function ended(t) {
  return t.state === State.completed || t.state === State.cancelled || (t.state === State.failed && !t.resumable);
}

function renderUploadsHead() {
  $('uploads-head').hidden = transfers.length === 0;
}

/** Called on every change of a transfer: state changes are handled now, progress is drawn once a frame. */
function changed(x) {
  const t = x.t;
  if (t.state !== x.last) {
    const was = x.last;
    x.last = t.state;
    stateChanged(x, was);
  }
  const pct = t.total > 0 ? Math.floor((100 * t.loaded) / t.total) : 0;
  if (t.state === State.uploading && pct >= x.milestone + 25 && pct < 100) {
    x.milestone = pct - (pct % 25);
    announce(`${t.file.name}: ${x.milestone}% uploaded.`);
  }
  if (!renderScheduled) {
    renderScheduled = true;
    requestAnimationFrame(() => {
      renderScheduled = false;
      for (const y of transfers) renderRow(y);
    });
  }
}

function stateChanged(x, was) {
  const t = x.t;
  const name = t.file.name;
  switch (t.state) {
    case State.uploading:
      if (was === State.starting && t.resumed) announce(`Resuming the earlier upload of ${name}.`);
      else if (was !== State.uploading) announce(`Uploading ${name}.`);
      break;
    case State.paused:
      announce(`Paused ${name}.`);
      pump();
      break;
    case State.completed:
      announce(`${name} uploaded.`);
      pump();
      fileTable.load();
      refreshMe();
      break;
    case State.failed:
      announce(`Upload of ${name} failed: ${messageOf(t.error)}`);
      pump();
      break;
    case State.cancelled:
      announce(`Cancelled ${name}.`);
      pump();
      refreshMe();
      break;
    default:
  }
  // A state change moves or hides buttons: draw now so focus never sits on a hidden one.
  renderRow(x);
}

function renderRow(x) {
  const t = x.t;
  const { toggle, cancel, remove, status, progress } = x.parts;
  x.row.dataset.state = t.state;
  const loaded = t.state === State.completed ? t.total : t.loaded;
  progress.value = t.total > 0 ? loaded : (t.state === State.completed ? 1 : 0);
  const now = performance.now();
  x.samples.push([now, loaded]);
  while (x.samples.length > 2 && now - x.samples[0][0] > 3000) x.samples.shift();

  let text = stateLabels[t.state] || t.state;
  if (t.state === State.uploading || t.state === State.paused) {
    const pct = t.total > 0 ? Math.floor((100 * loaded) / t.total) : 0;
    text += ` · ${formatBytes(loaded)} of ${formatBytes(t.total)} (${pct}%)`;
    const [t0, l0] = x.samples[0];
    if (t.state === State.uploading && now - t0 > 500) {
      text += ` · ${formatBytes(Math.max(0, ((loaded - l0) * 1000) / (now - t0)))}/s`;
    }
  } else if (t.state === State.completed) {
    text += ` · ${formatBytes(t.total)}`;
  }
  if (t.multipart && t.state !== State.completed) text += ` · ${t.done.size} of ${t.partCount} parts`;
  if (t.state === State.failed || (t.error && t.state !== State.completed)) {
    text += ` · ${messageOf(t.error)}`;
    if (t.resumable) text += ' You can retry: parts already stored are kept.';
  }
  status.textContent = text;

  const hadFocus = document.activeElement;
  toggle.hidden = !(t.pausable || t.resumable);
  if (t.pausable) {
    toggle.textContent = 'Pause';
    toggle.setAttribute('aria-label', `Pause upload of ${t.file.name}`);
  } else if (t.resumable) {
    toggle.textContent = t.state === State.failed ? 'Retry' : 'Resume';
    toggle.setAttribute('aria-label', `${toggle.textContent} upload of ${t.file.name}`);
  }
  cancel.hidden = ended(t);
  remove.hidden = !ended(t);
  if ((hadFocus === toggle && toggle.hidden) || (hadFocus === cancel && cancel.hidden)) {
    ([toggle, remove].find((b) => !b.hidden) || $('drop-zone')).focus();
  }
}

function clearFinished() {
  for (const x of [...transfers]) {
    if (ended(x.t)) {
      transfers.splice(transfers.indexOf(x), 1);
      x.row.remove();
    }
  }
  renderUploadsHead();
  $('drop-zone').focus();
}

// ---- drop zone -----------------------------------------------------------------------------

function hasFiles(ev) {
  return ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
}

function wireDropZone() {
  const zone = $('drop-zone');
  const input = $('file-input');
  const choose = () => input.click();
  zone.addEventListener('click', choose);
  zone.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      choose();
    } else if (ev.key === ' ') {
      ev.preventDefault(); // no scrolling; a button acts when Space is released
    }
  });
  zone.addEventListener('keyup', (ev) => {
    if (ev.key === ' ') {
      ev.preventDefault();
      choose();
    }
  });
  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = ''; // choosing the same file again is a new choice
  });
  zone.addEventListener('dragenter', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragover', (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', (ev) => {
    if (!zone.contains(ev.relatedTarget)) zone.classList.remove('dragging');
  });
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('dragging');
    const items = ev.dataTransfer.items ? [...ev.dataTransfer.items] : [];
    const folders = items.filter((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()?.isDirectory).length;
    const files = [...ev.dataTransfer.files].filter((f, i) => !(items[i] && items[i].webkitGetAsEntry && items[i].webkitGetAsEntry()?.isDirectory));
    if (folders > 0) announce('Folders are not uploaded; drop the files inside them instead.');
    addFiles(files);
  });
  // A file dropped beside the zone must not make the browser open it and leave the page.
  window.addEventListener('dragover', (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
  window.addEventListener('drop', (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
}

// ---- start ---------------------------------------------------------------------------------

function wire() {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('clear-finished').addEventListener('click', clearFinished);
  fileTable.wire();
  wireDropZone();
  window.addEventListener('beforeunload', (ev) => {
    if (!fileTable.leavingForDownload && transfers.some((x) => x.t.active)) {
      ev.preventDefault();
      ev.returnValue = '';
    }
  });
}

async function boot() {
  wire();
  const s = loadSession();
  if (!s) {
    showSignIn('');
    return;
  }
  useSession(s);
  try {
    me = await api.me();
    transfersOwner = me.id;
    await showApp();
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) showSignIn(messageOf(e));
  }
}

boot();
