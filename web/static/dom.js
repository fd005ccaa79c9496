// Small helpers shared by the page's modules: building elements (text is only ever set as
// text), formatting sizes and dates, and telling the user things.

import { APIError } from './api.js';

export const $ = (id) => document.getElementById(id);

/** Builds an element; children are nodes or strings (added as text). */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${numberFormat.format(v)} ${units[i]}`;
}

export function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateFormat.format(d);
}

export function messageOf(e) {
  if (e instanceof APIError && e.code === 'invalid_credentials') return 'Wrong username or password.';
  return (e && e.message) || String(e);
}

/**
 * Says msg through the polite live region. Each message is a new line of the region, so
 * messages in quick succession are all read, and a repeated message is read again.
 */
export function announce(msg) {
  const region = $('announcer');
  region.append(el('p', { text: msg }));
  while (region.childElementCount > 5) region.firstElementChild.remove();
}

export function showError(id, msg) {
  const p = $(id);
  p.textContent = msg;
  p.hidden = !msg;
}
