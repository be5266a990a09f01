// The Keys page: a prefix listing page by page (the listing's cursor), each
// key's size, expiry and entry version; a value view fetched on demand; a
// delete conditional on the version shown.

import { $, el, setText, show, status, bytes, when } from './dom.js';
import * as api from './api.js';

/** The most of a value the view downloads before asking. */
const PREVIEW_BYTES = 256 * 1024;

const listing = {
  prefix: '',
  limit: 100,
  cursors: [null], // cursors[i] opens page i
  page: 0,
  next: null,
};

let pendingDelete = null;

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
}

export function enter() {
  if (listing.page === 0 && $('keys-rows').childElementCount === 0) load();
}

async function load() {
  setText('keys-error', '');
  $('keys-next').disabled = true;
  $('keys-prev').disabled = true;
  status('Loading keys…');
  try {
    const page = await api.listKeys(listing.prefix, listing.cursors[listing.page], listing.limit);
    render(page);
    status(`Page ${listing.page + 1}: ${page.items.length} keys.`);
  } catch (error) {
    setText('keys-error', `Listing failed: ${error.message}`);
    status('');
  }
}

function render(page) {
  listing.next = page.next;
  const rows = page.items.map((item) => {
    const view = el('button', { type: 'button', className: 'link', dataset: { key: item.key } }, item.key);
    view.setAttribute('aria-label', `View value of ${item.key}`);
    view.addEventListener('click', () => openValue(item));
    const remove = el('button', { type: 'button', className: 'delete' }, 'Delete');
    remove.setAttribute('aria-label', `Delete ${item.key}`);
    remove.addEventListener('click', () => askDelete(item));
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
  show('value-view', true);
  setText('value-key', item.key);
  setText('value-version', item.version ?? '—');
  setText('value-expires', item.expires_at ? when(item.expires_at) : 'never');
  setText('value-format', 'loading…');
  setText('value-body', '');
  show('value-truncated', false);
  show('value-all', false);
  $('value-view').focus();
  try {
    const value = await api.getValue(item.key, whole ? Number.MAX_SAFE_INTEGER : PREVIEW_BYTES);
    if (value === null) {
      setText('value-format', 'absent (deleted or expired since the listing)');
      return;
    }
    if (value.version) setText('value-version', value.version.replaceAll('"', ''));
    const { format, text } = present(value.bytes, value.truncated);
    setText('value-format', format);
    setText('value-body', text);
    if (value.truncated) {
      setText('value-truncated', `Showing the first ${bytes(value.bytes.length)} of ${bytes(item.size)}.`);
      show('value-truncated', true);
      const all = $('value-all');
      all.hidden = false;
      all.onclick = () => openValue(item, true);
    }
  } catch (error) {
    setText('value-format', `could not be read: ${error.message}`);
  }
}

/** JSON pretty-printed, other UTF-8 as text, anything else as hex. */
export function present(data, truncated) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    // A cut may split a character: decode leniently when the value was cut.
    if (!truncated) return { format: 'binary (hex)', text: hex(data) };
    text = new TextDecoder('utf-8').decode(data);
  }
  if (!truncated) {
    try {
      return { format: 'JSON', text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      // Not JSON: shown as text.
    }
  }
  return { format: truncated ? 'text (cut)' : 'text', text };
}

function hex(data) {
  const lines = [];
  for (let offset = 0; offset < data.length; offset += 16) {
    const row = Array.from(data.subarray(offset, offset + 16), (b) => b.toString(16).padStart(2, '0'));
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${row.join(' ')}`);
  }
  return lines.join('\n');
}

function closeValue() {
  show('value-view', false);
}

// ---------------------------------------------------------------------------
// Delete, with a confirmation

function askDelete(item) {
  pendingDelete = item;
  const at = item.version ? ` at version ${item.version}` : '';
  setText('delete-question', `Delete “${item.key}”${at}? It is deleted only if nobody changed it since this listing.`);
  show('delete-confirm', true);
  $('delete-no').focus();
}

function cancelDelete() {
  pendingDelete = null;
  show('delete-confirm', false);
}

async function confirmDelete() {
  const item = pendingDelete;
  if (!item) return;
  show('delete-confirm', false);
  pendingDelete = null;
  try {
    await api.deleteKey(item.key, item.version);
    status(`Deleted “${item.key}”.`);
    if ($('value-key').textContent === item.key) closeValue();
    await load();
  } catch (error) {
    const why = error.status === 412 ? 'it changed since the listing; list again to see its new version' : error.message;
    setText('keys-error', `Not deleted: ${why}`);
  }
}
