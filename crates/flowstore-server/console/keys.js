// The Keys page: a prefix listing page by page (the listing's cursor), each
// key's size, expiry and entry version; a value view fetched on demand; a
// delete conditional on the version shown.

import { $, el, keepFocus, setText, show, status, bytes, when } from './dom.js';
import * as api from './api.js';

/** The most of a value the view downloads before asking. */
const PREVIEW_BYTES = 256 * 1024;
/**
 * The most of a value the view renders: a hex dump is ~4 characters per byte
 * and a whole 16 MiB value in the page would freeze the tab. Beyond it, the
 * value is offered as a download.
 */
const HEX_RENDER_BYTES = 64 * 1024;
const TEXT_RENDER_CHARS = 1024 * 1024;

const listing = {
  prefix: '',
  limit: 100,
  cursors: [null], // cursors[i] opens page i
  page: 0,
  next: null,
};

let pendingDelete = null;
/** The control that opened the delete confirmation, focused again when it closes. */
let deleteOpener = null;
/** The control that opened the value view, focused again when it closes. */
let valueOpener = null;
/** The `blob:` URL of the value offered as a download, revoked when the view changes. */
let downloadUrl = null;
/**
 * Counts the value view's loads, closes included: a load whose number is no
 * longer this one was overtaken (another key opened, the view closed) and
 * leaves the view alone when its answer arrives.
 */
let valueRun = 0;
/** Counts the listing's loads the same way: only the latest one renders. */
let listRun = 0;

export function setup() {
  $('keys-form').addEventListener('submit', (event) => {
    event.preventDefault();
    listing.prefix = $('keys-prefix').value;
    listing.limit = Number($('keys-limit').value);
    listing.cursors = [null];
    listing.page = 0;
    load();
  });
  $('keys-next').addEventListener('click', () => {
    if (!listing.next) return;
    listing.cursors[listing.page + 1] = listing.next;
    listing.page += 1;
    load();
  });
  $('keys-prev').addEventListener('click', () => {
    if (listing.page === 0) return;
    listing.page -= 1;
    load();
  });
  $('value-close').addEventListener('click', closeValue);
  $('delete-no').addEventListener('click', cancelDelete);
  $('delete-yes').addEventListener('click', confirmDelete);
  $('delete-confirm').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') cancelDelete();
  });
}

export function enter() {
  if (listing.page === 0 && $('keys-rows').childElementCount === 0) load();
}

async function load() {
  listRun += 1;
  const run = listRun;
  const had = document.activeElement;
  setText('keys-error', '');
  $('keys-next').disabled = true;
  $('keys-prev').disabled = true;
  status('Loading keys…');
  try {
    const page = await api.listKeys(listing.prefix, listing.cursors[listing.page], listing.limit);
    if (run !== listRun) return;
    render(page);
    status(`Page ${listing.page + 1}: ${page.items.length} keys.`);
  } catch (error) {
    if (run !== listRun) return;
    setText('keys-error', `Listing failed: ${error.message}`);
    status('');
  }
  keepFocus(had, 'keys-title');
}

function render(page) {
  listing.next = page.next;
  const rows = page.items.map((item) => {
    const view = el('button', { type: 'button', className: 'link', dataset: { key: item.key } }, item.key);
    view.setAttribute('aria-label', `View value of ${item.key}`);
    view.addEventListener('click', () => {
      valueOpener = view;
      openValue(item);
    });
    const remove = el('button', { type: 'button', className: 'delete' }, 'Delete');
    remove.setAttribute('aria-label', `Delete ${item.key}`);
    remove.addEventListener('click', () => askDelete(item, remove));
    return el('tr', { dataset: { key: item.key } },
      el('td', { className: 'key' }, view),
      el('td', { className: 'num' }, bytes(item.size)),
      el('td', {}, item.expires_at ? when(item.expires_at) : 'never'),
      el('td', { className: 'mono' }, item.version ?? '—'),
      el('td', {}, remove));
  });
  $('keys-rows').replaceChildren(...rows);
  const where = listing.prefix === '' ? 'all keys' : `keys starting with “${listing.prefix}”`;
  setText('keys-caption', `Page ${listing.page + 1} of ${where}${page.next ? '' : ' (last page)'}.`);
  setText('keys-page-number', `Page ${listing.page + 1}`);
  $('keys-prev').disabled = listing.page === 0;
  $('keys-next').disabled = !page.next;
}

// ---------------------------------------------------------------------------
// The value view

async function openValue(item, whole = false) {
  valueRun += 1;
  const run = valueRun;
  show('value-view', true);
  setText('value-key', item.key);
  setText('value-version', item.version ?? '—');
  setText('value-expires', item.expires_at ? when(item.expires_at) : 'never');
  setText('value-format', 'loading…');
  setText('value-body', '');
  show('value-truncated', false);
  show('value-all', false);
  show('value-capped', false);
  forgetDownload();
  $('value-view').focus();
  try {
    const value = await api.getValue(item.key, whole ? Number.MAX_SAFE_INTEGER : PREVIEW_BYTES);
    if (run !== valueRun) return;
    if (value === null) {
      setText('value-format', 'absent (deleted or expired since the listing)');
      return;
    }
    if (value.version) setText('value-version', value.version.replaceAll('"', ''));
    const shown = present(value.bytes, value.truncated);
    setText('value-format', shown.format);
    setText('value-body', shown.text);
    if (shown.capped) {
      const part = shown.format.startsWith('binary') ? `the hex of the first ${bytes(HEX_RENDER_BYTES)}` : 'the first million characters';
      setText('value-capped', `Showing ${part} of the ${bytes(value.bytes.length)} loaded: rendering more would stall the page.`);
      show('value-capped', true);
    }
    if (value.truncated) {
      setText('value-truncated', `Showing the first ${bytes(value.bytes.length)} of ${bytes(item.size)}.`);
      show('value-truncated', true);
      const all = $('value-all');
      all.hidden = false;
      all.onclick = () => openValue(item, true);
    } else if (shown.capped) {
      offerDownload(item.key, value.bytes);
    }
  } catch (error) {
    if (run === valueRun) setText('value-format', `could not be read: ${error.message}`);
  }
}

/**
 * JSON pretty-printed, other UTF-8 as text, anything else as hex; at most
 * [`HEX_RENDER_BYTES`] of hex or a million characters of text (`capped`).
 * `truncated`: `data` is the start of a longer value.
 */
export function present(data, truncated) {
  const text = utf8(data, truncated);
  if (text === null) {
    const capped = data.length > HEX_RENDER_BYTES;
    return {
      format: truncated ? 'binary (hex, cut)' : 'binary (hex)',
      text: hex(capped ? data.subarray(0, HEX_RENDER_BYTES) : data),
      capped,
    };
  }
  let shown = { format: truncated ? 'text (cut)' : 'text', text };
  if (!truncated) {
    try {
      shown = { format: 'JSON', text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      // Not JSON: shown as text.
    }
  }
  const capped = shown.text.length > TEXT_RENDER_CHARS;
  return { ...shown, text: capped ? shown.text.slice(0, TEXT_RENDER_CHARS) : shown.text, capped };
}

/**
 * `data` as UTF-8, or `null` when it is not text. The start of a longer
 * value may end inside a character (up to 3 of its 4 bytes): only those last
 * bytes may fail to decode, never anything before them.
 */
function utf8(data, truncated) {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const cuts = truncated ? Math.min(3, data.length) : 0;
  for (let cut = 0; cut <= cuts; cut += 1) {
    try {
      return decoder.decode(data.subarray(0, data.length - cut));
    } catch {
      // Not UTF-8 up to here.
    }
  }
  return null;
}

function hex(data) {
  const lines = [];
  for (let offset = 0; offset < data.length; offset += 16) {
    const row = Array.from(data.subarray(offset, offset + 16), (b) => b.toString(16).padStart(2, '0'));
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${row.join(' ')}`);
  }
  return lines.join('\n');
}

/** A link that saves the whole value, from memory (a `blob:` URL, no new request). */
function offerDownload(key, data) {
  // A URL not revoked pins its blob (up to a whole value) until the tab closes.
  forgetDownload();
  downloadUrl = URL.createObjectURL(new Blob([data], { type: 'application/octet-stream' }));
  const link = $('value-download');
  link.href = downloadUrl;
  link.download = `${key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'value'}.bin`;
  setText('value-download', `Download the whole value (${bytes(data.length)})`);
  link.hidden = false;
}

function forgetDownload() {
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = null;
  const link = $('value-download');
  link.hidden = true;
  link.removeAttribute('href');
}

function closeValue() {
  clearValue();
  returnFocus(valueOpener);
  valueOpener = null;
}

/** Hides the value view and drops what it held; a load still on its way is ignored. */
function clearValue() {
  valueRun += 1;
  show('value-view', false);
  forgetDownload();
  setText('value-key', '');
  setText('value-body', '');
}

/**
 * Forgets everything shown (on sign-out): the next user of the tab starts
 * from an empty page, and the next sign-in lists again.
 */
export function reset() {
  clearValue();
  valueOpener = null;
  pendingDelete = null;
  deleteOpener = null;
  show('delete-confirm', false);
  listRun += 1;
  $('keys-form').reset();
  listing.prefix = '';
  listing.limit = Number($('keys-limit').value);
  listing.cursors = [null];
  listing.page = 0;
  listing.next = null;
  $('keys-rows').replaceChildren();
  setText('keys-caption', 'No listing yet.');
  setText('keys-page-number', '');
  setText('keys-error', '');
}

/** Focus back on `opener` when it is still on the page, else on the page's heading. */
function returnFocus(opener) {
  if (opener && opener.isConnected && !opener.closest('[hidden]')) opener.focus();
  else $('keys-title').focus();
}

// ---------------------------------------------------------------------------
// Delete, with a confirmation

/** The confirmation's question: conditional only when a version is shown. */
export function deleteQuestion(item) {
  if (item.version) {
    return `Delete “${item.key}” at version ${item.version}? It is deleted only if nobody changed it since this listing.`;
  }
  return `Delete “${item.key}”? This store keeps no entry versions: the delete cannot check whether the key changed since this listing.`;
}

function askDelete(item, opener) {
  pendingDelete = item;
  deleteOpener = opener;
  setText('delete-question', deleteQuestion(item));
  show('delete-confirm', true);
  $('delete-no').focus();
}

function cancelDelete() {
  pendingDelete = null;
  show('delete-confirm', false);
  returnFocus(deleteOpener);
  deleteOpener = null;
}

async function confirmDelete() {
  const item = pendingDelete;
  if (!item) return;
  const opener = deleteOpener;
  show('delete-confirm', false);
  pendingDelete = null;
  deleteOpener = null;
  try {
    await api.deleteKey(item.key, item.version);
    status(`Deleted “${item.key}”.`);
    if ($('value-key').textContent === item.key) closeValue();
    await load();
    // The row is gone with its button: the page's heading takes the focus.
    returnFocus(null);
  } catch (error) {
    const why = error.status === 412 ? 'it changed since the listing; list again to see its new version' : error.message;
    setText('keys-error', `Not deleted: ${why}`);
    returnFocus(opener);
  }
}
