// The list of my files: pages of GET /v1/files, download through a signed URL, delete after a
// confirmation dialog.

import { $, announce, el, formatBytes, formatDate, messageOf, showError } from './dom.js';

const pageSize = 20;

export class FileTable {
  /**
   * @param {() => import('./api.js').API} api the current session's API
   * @param {() => void} onDeleted called after a file is deleted (usage changed)
   */
  constructor(api, onDeleted) {
    this.api = api;
    this.onDeleted = onDeleted;
    this.pager = { cursors: [''], index: 0, next: '' };
    this.seq = 0;
    // Set while the browser goes to a download URL, which is not leaving the page.
    this.leavingForDownload = false;
  }

  wire() {
    $('refresh').addEventListener('click', () => this.load());
    $('prev-page').addEventListener('click', () => {
      if (this.pager.index === 0) return;
      this.pager.index--;
      this.load();
    });
    $('next-page').addEventListener('click', () => {
      if (!this.pager.next) return;
      this.pager.cursors[this.pager.index + 1] = this.pager.next;
      this.pager.index++;
      this.load();
    });
    const dialog = $('confirm-delete');
    // Closed here rather than by the form's method="dialog", so the answer does not depend on
    // how the Content-Security-Policy's form-action treats dialog forms.
    dialog.querySelector('form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      dialog.close(ev.submitter ? ev.submitter.value : 'cancel');
    });
  }

  /** Goes back to the first page and forgets the rows (after signing in or out). */
  reset() {
    this.pager = { cursors: [''], index: 0, next: '' };
    this.seq++;
    $('files-body').replaceChildren();
  }

  async load() {
    const seq = ++this.seq;
    const pager = this.pager;
    const table = $('files');
    table.setAttribute('aria-busy', 'true');
    try {
      const page = await this.api().files(pager.cursors[pager.index], pageSize);
      if (seq !== this.seq) return;
      if (page.files.length === 0 && pager.index > 0) {
        // The last file of this page was deleted: show the one before.
        pager.index--;
        await this.load();
        return;
      }
      showError('files-error', '');
      pager.next = page.next || '';
      this.render(page.files);
    } catch (e) {
      if (seq === this.seq) showError('files-error', `The file list could not be loaded: ${messageOf(e)}`);
    } finally {
      if (seq === this.seq) table.removeAttribute('aria-busy');
    }
  }

  render(files) {
    const pager = this.pager;
    $('files-body').replaceChildren(...files.map((f) => this.row(f)));
    $('files-empty').hidden = files.length > 0 || pager.index > 0;
    $('files').hidden = files.length === 0 && pager.index === 0;
    $('prev-page').disabled = pager.index === 0;
    $('next-page').disabled = !pager.next;
    const first = pager.index * pageSize + 1;
    $('page-info').textContent = files.length === 0 ? '' : `Page ${pager.index + 1} · files ${first}–${first + files.length - 1}`;
  }

  row(f) {
    const download = el('button', { type: 'button', class: 'button secondary small', 'aria-label': `Download ${f.filename}`, text: 'Download' });
    download.addEventListener('click', () => this.download(f, download));
    const del = el('button', { type: 'button', class: 'button secondary small', 'aria-label': `Delete ${f.filename}`, text: 'Delete' });
    del.addEventListener('click', () => this.confirmDelete(f, del));
    return el('tr', { 'data-id': f.id },
      el('td', { class: 'name', 'data-label': 'Name', text: f.filename }),
      el('td', { class: 'num', 'data-label': 'Size' }, el('span', { title: `${f.size} bytes`, text: formatBytes(f.size) })),
      el('td', { class: 'type', 'data-label': 'Type', text: f.content_type }),
      // The list holds finished files only: uploads in progress are under Transfers.
      el('td', { 'data-label': 'State' }, el('span', { class: 'state-badge', text: 'Completed' })),
      el('td', { class: 'date', 'data-label': 'Uploaded' }, el('time', { datetime: f.created_at, text: formatDate(f.created_at) })),
      el('td', {}, el('div', { class: 'actions' }, download, del)));
  }

  async download(f, button) {
    button.disabled = true;
    try {
      const d = await this.api().download(f.id);
      announce(`Downloading ${f.filename}.`);
      // The signed URL answers with Content-Disposition: attachment, so the browser saves the
      // file and stays on this page.
      this.leavingForDownload = true;
      window.location.assign(d.url);
      setTimeout(() => { this.leavingForDownload = false; }, 1000);
    } catch (e) {
      showError('files-error', `${f.filename} could not be downloaded: ${messageOf(e)}`);
    } finally {
      button.disabled = false;
    }
  }

  confirmDelete(f, button) {
    const dialog = $('confirm-delete');
    $('confirm-name').textContent = f.filename;
    dialog.returnValue = '';
    dialog.addEventListener('close', async () => {
      if (dialog.returnValue !== 'delete') {
        button.focus();
        return;
      }
      try {
        await this.api().deleteFile(f.id);
        announce(`Deleted ${f.filename}.`);
        await this.load();
        this.onDeleted();
        $('files-title').focus();
      } catch (e) {
        showError('files-error', `${f.filename} could not be deleted: ${messageOf(e)}`);
        button.focus();
      }
    }, { once: true });
    dialog.showModal();
  }
}
