// DOM helpers. Text always goes in through textContent: stored data is never
// parsed as markup (the server's Content-Security-Policy is the second wall).

export const $ = (id) => document.getElementById(id);

/** `el('td', {className: 'num'}, 'text', child)`: an element with properties and children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('aria-')) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setText(id, text) {
  $(id).textContent = text;
}

export function show(id, visible) {
  $(id).hidden = !visible;
}

/**
 * After a button that had the focus (`had`) was disabled for a request: a
 * disabled button drops the keyboard focus, so it gets it back, or, when it
 * is gone, hidden or still disabled, `fallback` (an element id) gets it.
 * Only when the focus was really lost (on the page's body, or still on the
 * disabled button): if the user moved it meanwhile, it stays where they put it.
 */
export function keepFocus(had, fallback) {
  if (!(had instanceof HTMLButtonElement)) return;
  const now = document.activeElement;
  if (now !== null && now !== document.body && now !== had) return;
  if (had.isConnected && !had.disabled && !had.closest('[hidden]')) {
    if (now !== had) had.focus();
  } else {
    $(fallback).focus();
  }
}

export function status(text) {
  setText('status', text);
}

/** A size in bytes for people. */
export function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

/** A time (ms since the epoch, or an RFC 3339 string) in the reader's locale, or a dash. */
export function when(time) {
  if (time === null || time === undefined) return '—';
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? String(time) : date.toLocaleString();
}
