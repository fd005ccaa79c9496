// presign.js: uploads from a browser straight to storage, through a presign control plane.
//
// One ES module, served by the control plane at /v1/presign.js for any page and used by
// presign's own page: a page that holds a token (a login session, or an upload token its
// application server minted) uploads files with parallel parts, progress, pause and resume,
// resume after a reload, and cancel.
//
//   import { upload } from 'https://presign.example.com/v1/presign.js';
//   const t = upload(file, { token, onChange: (t) => bar.value = t.loaded / t.total });
//   const record = await t.finished; // the file record once presign has verified the object
//
// The control plane hands out a ticket: either one presigned PUT (sent with exactly the
// ticket's headers) or a multipart plan. A plan's parts go up in parallel; each part's URL is
// asked for just before the part is sent, a part that fails on the network or with a 5xx is
// retried with backoff (with a fresh URL), and pause aborts the parts in flight. Resume asks the
// control plane which parts the store already holds and sends only the others, which also works
// after the page was reloaded: the upload's id is remembered per file until it ends. The token
// travels only in the Authorization header; file bytes go to storage, never to the control plane.

/** An answer of the control plane that is not a success, or a failure to reach it. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'APIError';
    this.status = status; // 0 when the server could not be reached
    this.code = code;     // the API's error code, e.g. quota_exceeded
  }
}

/** The control plane's upload API (its OpenAPI document, /openapi.json, is the contract). */
export class Client {
  /**
   * @param {{token?: string, endpoint?: string, onUnauthenticated?: (e: APIError) => void}} opts
   *   token: a session, API key or upload token ('' before signing in); endpoint: the control
   *   plane's origin, by default the one this module was loaded from; onUnauthenticated: called
   *   when the token stops working (expired or revoked).
   */
  constructor(opts = {}) {
    this.token = opts.token || '';
    this.endpoint = (opts.endpoint || new URL(import.meta.url).origin).replace(/\/+$/, '');
    this.onUnauthenticated = opts.onUnauthenticated || null;
  }

  async request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (this.token) headers.Authorization = 'Bearer ' + this.token;
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(this.endpoint + path, init);
    } catch {
      throw new APIError(0, 'network', 'The server could not be reached. Check the connection and try again.');
    }
    if (resp.status === 204) return null;
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    if (!resp.ok) {
      const err = new APIError(resp.status, (data && data.error) || 'http_' + resp.status,
        (data && data.message) || `The server answered ${resp.status}.`);
      if (resp.status === 401 && this.token && err.code === 'unauthenticated' && this.onUnauthenticated) {
        this.onUnauthenticated(err);
      }
      throw err;
    }
    return data;
  }

  /**
   * Asks for a ticket: a presigned PUT, or a multipart plan for big files. metadata (string
   * keys and values, optional) is kept on the file and sent in its upload.completed event.
   */
  ticket(file, metadata) {
    const body = {
      filename: file.name,
      size: file.size,
      content_type: file.type || 'application/octet-stream',
    };
    if (metadata && Object.keys(metadata).length > 0) body.metadata = metadata;
    return this.request('POST', '/v1/uploads', body);
  }

  upload(id) {
    return this.request('GET', `/v1/uploads/${encodeURIComponent(id)}`);
  }

  abort(id) {
    return this.request('DELETE', `/v1/uploads/${encodeURIComponent(id)}`);
  }

  /** Part URLs, signed now: asked for just before each part is sent. */
  signParts(id, numbers) {
    return this.request('POST', `/v1/uploads/${encodeURIComponent(id)}/parts`, { part_numbers: numbers });
  }

  /** The parts the store already holds, each received whole: a resume sends only the others. */
  storedParts(id) {
    return this.request('GET', `/v1/uploads/${encodeURIComponent(id)}/parts`);
  }

  /** Completes an upload; parts may be omitted to use those the store holds. */
  complete(id, parts) {
    return this.request('POST', `/v1/uploads/${encodeURIComponent(id)}/complete`, parts ? { parts } : undefined);
  }
}

/** States a transfer goes through. */
export const State = Object.freeze({
  queued: 'queued',
  starting: 'starting',
  uploading: 'uploading',
  paused: 'paused',
  completing: 'completing',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
});

const maxAttempts = 6;   // per part (and per single PUT): the first try and five retries
const baseBackoff = 500; // ms, doubled each retry, with jitter

/** A request to the storage node that did not succeed: its status and S3 error code and message. */
export class StorageError extends Error {
  constructor(status, code, message, retryable) {
    super(message);
    this.name = 'StorageError';
    this.status = status;
    this.code = code;
    this.retryable = retryable;
  }
}

/** Thrown when a request was aborted by pause or cancel. */
class Stopped extends Error {}

/** What finished rejects with when the transfer was cancelled. */
export class CancelledError extends Error {
  constructor() {
    super('The upload was cancelled.');
    this.name = 'CancelledError';
  }
}

/**
 * PUTs body to url with XMLHttpRequest, which reports upload progress (fetch does not).
 * Resolves with the ETag; rejects with StorageError or Stopped.
 */
function xhrPut(url, body, headers, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('PUT', url);
    for (const [name, value] of Object.entries(headers || {})) {
      // A browser sends the body's own length and refuses to let a script set one; a ticket's
      // Content-Length (signed by a store that takes no size limit in the URL) is that length,
      // since the body is the whole file or exactly its part.
      if (name.toLowerCase() === 'content-length') continue;
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(xhr.getResponseHeader('ETag'));
        return;
      }
      reject(storageError(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(new StorageError(0, 'network', 'The storage node could not be reached.', true));
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => reject(new Stopped('aborted'));
    xhr.send(body);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Reads an S3 XML error body into a StorageError. */
function storageError(status, text) {
  let code = 'http_' + status;
  let message = `The storage node answered ${status}.`;
  try {
    const doc = new DOMParser().parseFromString(text || '', 'application/xml');
    const c = doc.querySelector('Error > Code');
    const m = doc.querySelector('Error > Message');
    if (c && c.textContent) code = c.textContent;
    if (m && m.textContent) message = m.textContent;
  } catch {
    // Not XML: keep the status line.
  }
  const expired = status === 403 && /expired/i.test(message);
  const retryable = status >= 500 || status === 408 || status === 429 || expired;
  return new StorageError(status, code, message, retryable);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function backoff(attempt) {
  const base = baseBackoff * 2 ** (attempt - 1);
  return base / 2 + Math.random() * base / 2;
}

function retryableAPI(e) {
  return e instanceof APIError && (e.status === 0 || e.status >= 500 || e.status === 429);
}

/**
 * Remembers the multipart uploads of this browser that have not ended, so that choosing the
 * same file again (even after a reload) resumes instead of starting over. It keeps ids and
 * file fingerprints only, never a token or a URL.
 */
export class ResumeBook {
  /** @param {string} scope whose uploads these are (a user id, or the application's own name) */
  constructor(scope) {
    this.key = 'presign.resume.' + scope;
  }

  static fingerprint(file) {
    return JSON.stringify([file.name, file.size, file.lastModified, file.type]);
  }

  #all() {
    try {
      return JSON.parse(localStorage.getItem(this.key) || '{}');
    } catch {
      return {};
    }
  }

  get(file) {
    return this.#all()[ResumeBook.fingerprint(file)] || null;
  }

  put(file, entry) {
    const all = this.#all();
    all[ResumeBook.fingerprint(file)] = entry;
    localStorage.setItem(this.key, JSON.stringify(all));
  }

  forget(file) {
    const all = this.#all();
    delete all[ResumeBook.fingerprint(file)];
    localStorage.setItem(this.key, JSON.stringify(all));
  }
}

/** One file's upload. Its state, loaded and total say where it is; onChange hears every change. */
export class Transfer {
  /**
   * @param {Client} api
   * @param {File} file
   * @param {{concurrency?: number, book?: ResumeBook, metadata?: Object<string, string>, onChange?: (t: Transfer) => void}} opts
   */
  constructor(api, file, opts = {}) {
    this.api = api;
    this.file = file;
    this.metadata = opts.metadata || null; // given with the ticket; a resumed upload keeps its own
    this.concurrency = opts.concurrency || 4;
    this.book = opts.book || null;
    this.onChange = opts.onChange || (() => {});
    this.state = State.queued;
    this.error = null;      // the last error, for the page to show
    this.id = '';
    this.multipart = false;
    this.resumed = false;   // true when an earlier upload of this file was taken up again
    this.result = null;     // the file record once completed
    this.partSize = 0;
    this.partCount = 0;
    this.done = new Map();     // part number → {etag, size}
    this.inflight = new Map(); // part number → {abort, loaded}
    this.singleLoaded = 0;
    this.run = 0;              // bumped by pause and cancel: workers of an older run stop
    this.recoveries = 0;       // resumes forced by a complete that found parts missing
    this.waiters = [];         // {resolve, reject} of finished promises not yet settled
  }

  /**
   * Settles when the transfer next ends: with the file record once completed, with the error
   * when it fails (a multipart transfer can then be resumed, and finished asked for again), with a
   * CancelledError when cancelled.
   */
  get finished() {
    if (this.state === State.completed) return Promise.resolve(this.result);
    if (this.state === State.cancelled) return Promise.reject(new CancelledError());
    if (this.state === State.failed) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  get total() {
    return this.file.size;
  }

  /** Bytes the store holds or is receiving now. */
  get loaded() {
    if (!this.multipart) return this.singleLoaded;
    let n = 0;
    for (const p of this.done.values()) n += p.size;
    for (const p of this.inflight.values()) n += p.loaded;
    return Math.min(n, this.total);
  }

  get pausable() {
    return this.multipart && this.state === State.uploading;
  }

  get resumable() {
    return this.multipart && this.id !== '' && (this.state === State.paused || this.state === State.failed);
  }

  get active() {
    return this.state === State.starting || this.state === State.uploading || this.state === State.completing;
  }

  #set(state) {
    this.state = state;
    this.onChange(this);
    if (state !== State.completed && state !== State.failed && state !== State.cancelled) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (state === State.completed) w.resolve(this.result);
      else w.reject(state === State.cancelled ? new CancelledError() : this.error);
    }
  }

  #fail(e) {
    this.run++;
    for (const p of this.inflight.values()) p.abort();
    this.inflight.clear();
    this.error = e;
    this.#set(State.failed);
  }

  /** Gets a ticket (or takes up an earlier upload of the same file) and uploads. */
  async start() {
    if (this.state !== State.queued) return;
    this.#set(State.starting);
    try {
      if (await this.#takeUpEarlier()) return;
      const t = await this.api.ticket(this.file, this.metadata);
      this.id = t.id;
      if (this.state === State.cancelled) {
        await this.api.abort(t.id);
        return;
      }
      if (t.multipart) {
        this.multipart = true;
        this.partSize = t.part_size;
        this.partCount = t.part_count;
        this.book?.put(this.file, { id: t.id, part_size: t.part_size, part_count: t.part_count });
        await this.#sendParts();
      } else if (t.method === 'PUT' && t.url) {
        await this.#single(t);
      } else {
        throw new Error('The server sent a ticket this page cannot use.');
      }
    } catch (e) {
      if (!(e instanceof Stopped) && this.state !== State.cancelled) this.#fail(e);
    }
  }

  /** Resumes a remembered multipart upload of this file, if the control plane still has it open. */
  async #takeUpEarlier() {
    const entry = this.book?.get(this.file);
    if (!entry) return false;
    let u;
    try {
      u = await this.api.upload(entry.id);
    } catch (e) {
      if (e instanceof APIError && e.status === 404) {
        this.book.forget(this.file);
        return false;
      }
      throw e;
    }
    if (u.state !== 'uploading' || !u.multipart || u.size !== this.file.size || u.part_size !== entry.part_size) {
      this.book.forget(this.file);
      return false;
    }
    this.id = u.id;
    this.multipart = true;
    this.resumed = true;
    this.partSize = u.part_size;
    this.partCount = u.part_count;
    await this.#resumeParts();
    return true;
  }

  async #single(t) {
    this.#set(State.uploading);
    const run = this.run;
    for (let attempt = 1; ; attempt++) {
      const x = xhrPut(t.url, this.file, t.headers, (loaded) => {
        this.singleLoaded = loaded;
        this.onChange(this);
      });
      this.inflight.set(1, { abort: x.abort, loaded: 0 });
      try {
        await x.promise;
        break;
      } catch (e) {
        if (e instanceof Stopped || run !== this.run) throw new Stopped();
        // A single-use URL is spent once the store has the object: only failures before that
        // are retried, and a refusal is final.
        if (!e.retryable || e.status === 403 || attempt >= maxAttempts) throw e;
        this.singleLoaded = 0;
        this.onChange(this);
        await sleep(backoff(attempt));
        if (run !== this.run) throw new Stopped();
      } finally {
        this.inflight.delete(1);
      }
    }
    this.singleLoaded = this.total;
    await this.#complete(undefined);
  }

  /** Sends every part not yet done, at most `concurrency` at a time, then completes. */
  async #sendParts() {
    if (this.state === State.cancelled) throw new Stopped();
    const run = ++this.run;
    this.#set(State.uploading);
    const queue = [];
    for (let n = 1; n <= this.partCount; n++) if (!this.done.has(n)) queue.push(n);
    const worker = async () => {
      while (queue.length > 0 && run === this.run) {
        await this.#sendPart(queue.shift(), run);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
    if (run !== this.run) throw new Stopped();
    const parts = [...this.done.entries()].sort((a, b) => a[0] - b[0])
      .map(([n, p]) => ({ part_number: n, etag: p.etag }));
    // Without ETags (a store that does not expose them to scripts) the control plane uses the
    // parts the store lists.
    await this.#complete(parts.every((p) => p.etag) ? parts : undefined);
  }

  partLength(n) {
    return n < this.partCount ? this.partSize : this.total - (this.partCount - 1) * this.partSize;
  }

  async #sendPart(n, run) {
    const start = (n - 1) * this.partSize;
    const size = this.partLength(n);
    for (let attempt = 1; ; attempt++) {
      if (run !== this.run) throw new Stopped();
      let err;
      try {
        const part = (await this.api.signParts(this.id, [n])).parts[0];
        if (run !== this.run) throw new Stopped();
        // Exactly the headers the part's URL was signed with: a store that checks the
        // signature (GCS signs the part's size range) refuses the part without them.
        const x = xhrPut(part.url, this.file.slice(start, start + size), part.headers, (loaded) => {
          const p = this.inflight.get(n);
          if (p) p.loaded = loaded;
          this.onChange(this);
        });
        this.inflight.set(n, { abort: x.abort, loaded: 0 });
        const etag = await x.promise;
        this.inflight.delete(n);
        this.done.set(n, { etag, size });
        this.onChange(this);
        return;
      } catch (e) {
        this.inflight.delete(n);
        if (e instanceof Stopped || run !== this.run) throw new Stopped();
        err = e;
      }
      const retryable = (err instanceof StorageError && err.retryable) || retryableAPI(err);
      if (!retryable || attempt >= maxAttempts) {
        this.#fail(err);
        throw new Stopped();
      }
      this.onChange(this);
      await sleep(backoff(attempt));
    }
  }

  async #complete(parts) {
    if (this.state === State.cancelled) throw new Stopped();
    this.#set(State.completing);
    let file;
    for (let attempt = 1; ; attempt++) {
      try {
        file = await this.api.complete(this.id, parts);
        break;
      } catch (e) {
        if (e instanceof APIError && e.code === 'not_uploaded' && this.multipart && this.recoveries < 2) {
          // The store lacks a part it was sent: ask which, and send those again.
          this.recoveries++;
          await this.#resumeParts();
          return;
        }
        if (!retryableAPI(e) || attempt >= maxAttempts) throw e;
        await sleep(backoff(attempt));
      }
    }
    this.result = file;
    this.book?.forget(this.file);
    this.#set(State.completed);
  }

  /** Stops the parts in flight; the parts the store already holds stay there. */
  pause() {
    if (!this.pausable) return;
    this.run++;
    for (const p of this.inflight.values()) p.abort();
    this.inflight.clear();
    this.#set(State.paused);
  }

  /** Asks which parts the store holds and sends the others. */
  async resume() {
    if (!this.resumable) return;
    this.error = null;
    try {
      await this.#resumeParts();
    } catch (e) {
      if (!(e instanceof Stopped) && this.state !== State.cancelled) this.#fail(e);
    }
  }

  async #resumeParts() {
    if (this.state === State.cancelled) throw new Stopped();
    const run = ++this.run;
    this.#set(State.starting);
    const { parts } = await this.api.storedParts(this.id);
    if (run !== this.run) throw new Stopped();
    this.done = new Map();
    for (const p of parts) {
      // A part is only taken as done when it is whole: the size of its place in the plan.
      if (p.part_number >= 1 && p.part_number <= this.partCount && p.size === this.partLength(p.part_number)) {
        this.done.set(p.part_number, { etag: p.etag, size: p.size });
      }
    }
    await this.#sendParts();
  }

  /** Stops the upload and asks the control plane to abort it (freeing its quota). */
  async cancel() {
    if (this.state === State.completed || this.state === State.cancelled) return;
    this.run++;
    for (const p of this.inflight.values()) p.abort();
    this.inflight.clear();
    this.#set(State.cancelled);
    this.book?.forget(this.file);
    if (this.id) {
      try {
        await this.api.abort(this.id);
      } catch (e) {
        // An upload that already ended has nothing to abort.
        if (!(e instanceof APIError && (e.status === 404 || e.status === 409))) throw e;
      }
    }
  }
}

/**
 * Uploads file with token and returns its Transfer, already started. Options: endpoint (the
 * control plane's origin; by default this module's), concurrency (parts at once, 4), resume
 * (a scope name under which unfinished multipart uploads are remembered in localStorage, so
 * that choosing the same file again after a reload resumes it; none by default), metadata
 * (string keys and values the application keeps on the file: it comes back in the file record
 * and in the upload.completed event), onChange.
 *
 * @param {File} file
 * @param {{token: string, endpoint?: string, concurrency?: number, resume?: string, metadata?: Object<string, string>, onChange?: (t: Transfer) => void}} opts
 */
export function upload(file, opts) {
  const client = new Client({ token: opts.token, endpoint: opts.endpoint });
  const book = opts.resume ? new ResumeBook(opts.resume) : null;
  const t = new Transfer(client, file, { concurrency: opts.concurrency, book, metadata: opts.metadata, onChange: opts.onChange });
  t.start();
  return t;
}
