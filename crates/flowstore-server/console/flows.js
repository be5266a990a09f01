// The Flows page: which flow ids the store holds (found by scanning keys in
// bounded steps, "Scan more keys" for the next step), and for one flow id,
// how many active instances sit at each step (the "where are users stuck"
// chart), how many are complete, and the instances themselves. The server
// counts in bounded steps; "Count more" asks for the next step and adds it
// up here.

import { $, el, keepFocus, setText, show, status, when } from './dom.js';
import * as api from './api.js';

const INSTANCES_PER_PAGE = 50;

let current = null;
/** The discovery scan: flow id → keys seen, and where to go on. */
let found = null;
/**
 * The latest request of each kind. An overtaken request (the user scanned
 * again, picked another flow, signed out) drops its answer and leaves the
 * buttons and the focus to the request that overtook it: adding its answer
 * up, or re-enabling "more" while the new request still runs, would count
 * a page twice.
 */
const latest = { discover: 0, count: 0, instances: 0 };

export function setup() {
  $('flows-form').addEventListener('submit', (event) => {
    event.preventDefault();
    start($('flow-id').value.trim(), prefix());
  });
  $('flow-more').addEventListener('click', () => count());
  $('instances-more').addEventListener('click', () => instances());
  $('flows-scan').addEventListener('click', () => discover(true));
  $('flows-scan-more').addEventListener('click', () => discover(false));
}

export function enter() {
  if (found === null) discover(true);
}

/** Forgets the scan and the flow shown (on sign-out); requests on their way are ignored. */
export function reset() {
  found = null;
  current = null;
  for (const kind of Object.keys(latest)) latest[kind] += 1;
  $('flows-form').reset();
  setText('flows-error', '');
  $('flows-found-list').replaceChildren();
  setText('flows-found-caption', 'Not scanned yet.');
  show('flows-scan-more', false);
  $('flows-scan').disabled = false;
  $('flows-scan-more').disabled = false;
  show('flow-result', false);
  $('flow-chart').replaceChildren();
  $('instances-rows').replaceChildren();
}

const prefix = () => $('flow-prefix').value.trim() || 'useflow';

/** One step of the discovery: `fresh` starts over (with the prefix typed now). */
async function discover(fresh) {
  if (fresh || found === null) found = { prefix: prefix(), flows: new Map(), scanned: 0, other: 0, next: null };
  const scan = found;
  const ticket = ++latest.discover;
  const isLatest = () => ticket === latest.discover && scan === found;
  const had = document.activeElement;
  $('flows-scan').disabled = true;
  $('flows-scan-more').disabled = true;
  setText('flows-error', '');
  status('Looking for flows…');
  try {
    const page = await api.discoverFlows(scan.prefix, scan.next);
    if (!isLatest()) return;
    for (const { flow_id: id, keys } of page.flows) scan.flows.set(id, (scan.flows.get(id) ?? 0) + keys);
    scan.scanned += page.scanned;
    scan.other += page.other;
    scan.next = page.next;
    scan.ordered = page.ordered;
    renderFound(scan);
    status(scan.next ? 'Scanned part of the keys for flows.' : 'Scanned every key for flows.');
  } catch (error) {
    if (!isLatest()) return;
    setText('flows-error', `Looking for flows failed: ${error.message}`);
    status('');
  } finally {
    if (isLatest()) {
      $('flows-scan').disabled = false;
      $('flows-scan-more').disabled = false;
      keepFocus(had, 'flows-found-title');
    }
  }
}

function renderFound(scan) {
  const ids = [...scan.flows.keys()].sort();
  const items = ids.map((id) => {
    const keys = scan.flows.get(id);
    const open = el('button', { type: 'button', className: 'link', dataset: { flow: id } }, id);
    open.setAttribute('aria-label', `Show flow ${id} (${keys} keys seen)`);
    open.addEventListener('click', () => {
      $('flow-id').value = id;
      start(id, scan.prefix);
    });
    return el('li', {}, open, el('span', { className: 'hint' }, ` ${keys} keys`));
  });
  $('flows-found-list').replaceChildren(...items);
  const where = `keys under “${scan.prefix}:”`;
  const seen = `${scan.scanned} ${where} scanned${scan.next ? ' so far' : ''}`;
  const what = ids.length === 0 ? 'no flow found' : `${ids.length} flow id${ids.length === 1 ? '' : 's'}`;
  const other = scan.other ? `, ${scan.other} not in the flow key layout` : '';
  const caveat = unordered(scan);
  setText('flows-found-caption', `${seen}: ${what}${other}. ${caveat ? `${caveat} ` : ''}Or type a flow id above.`);
  show('flows-scan-more', Boolean(scan.next));
}

/**
 * A caveat for counts added up over several answers of a store that may list
 * a key twice (the answers' `ordered` is false): they are then not exact.
 */
function unordered(run) {
  return run.ordered === false && run.scanned > 0 ? 'This store may list a key twice: the counts may be high.' : '';
}

function start(flow, prefix) {
  if (!flow) return;
  current = {
    flow,
    prefix: prefix || 'useflow',
    steps: new Map(),
    completed: 0,
    other: 0,
    invalid: 0,
    scanned: 0,
    next: null,
    instancesNext: null,
  };
  $('instances-rows').replaceChildren();
  $('flow-chart').replaceChildren();
  show('flow-unordered', false);
  setText('flows-error', '');
  show('flow-result', true);
  $('flow-title').focus();
  count();
  instances();
}

async function count() {
  const run = current;
  const ticket = ++latest.count;
  const isLatest = () => ticket === latest.count && run === current;
  const had = document.activeElement;
  $('flow-more').disabled = true;
  status('Counting instances…');
  try {
    const summary = await api.flowSummary(run.flow, run.prefix, run.next);
    if (!isLatest()) return;
    for (const [step, active] of Object.entries(summary.steps)) {
      run.steps.set(step, (run.steps.get(step) ?? 0) + active);
    }
    run.completed += summary.completed;
    run.other += summary.other;
    run.invalid += summary.invalid;
    run.scanned += summary.scanned;
    run.next = summary.next;
    run.ordered = summary.ordered;
    renderSummary(run);
    status(run.next ? 'Counted part of the flow.' : 'Counted every instance.');
  } catch (error) {
    if (!isLatest()) return;
    setText('flows-error', `Counting failed: ${error.message}`);
    status('');
  } finally {
    if (isLatest()) {
      $('flow-more').disabled = false;
      keepFocus(had, 'flow-title');
    }
  }
}

function renderSummary(run) {
  let active = 0;
  for (const value of run.steps.values()) active += value;
  setText('flow-active', active);
  setText('flow-completed', run.completed);
  setText('flow-other', run.other);
  setText('flow-invalid', run.invalid);
  setText('flow-scanned', run.scanned);
  const caveat = unordered(run);
  setText('flow-unordered', caveat);
  show('flow-unordered', caveat !== '');
  show('flow-partial', Boolean(run.next));
  show('flow-more', Boolean(run.next));
  const steps = [...run.steps.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const most = Math.max(1, ...steps.map(([, n]) => n));
  const rows = steps.map(([step, n]) => {
    const bar = el('div', { className: 'bar' });
    // CSSOM, not a style attribute: allowed by the page's policy.
    bar.style.width = `${(100 * n) / most}%`;
    const row = el('div', { className: 'bar-row', dataset: { step, count: String(n) } },
      el('span', { className: 'bar-label' }, step),
      el('div', { className: 'bar-track', 'aria-hidden': 'true' }, bar),
      el('span', { className: 'bar-count' }, String(n)));
    row.setAttribute('role', 'listitem');
    row.setAttribute('aria-label', `${step}: ${n} active`);
    return row;
  });
  if (rows.length === 0) rows.push(el('p', { className: 'hint' }, 'No active instances counted.'));
  $('flow-chart').replaceChildren(...rows);
}

async function instances() {
  const run = current;
  const ticket = ++latest.instances;
  const isLatest = () => ticket === latest.instances && run === current;
  const had = document.activeElement;
  $('instances-more').disabled = true;
  try {
    const page = await api.flowInstances(run.flow, run.prefix, run.instancesNext, INSTANCES_PER_PAGE);
    if (!isLatest()) return;
    run.instancesNext = page.next;
    $('instances-rows').append(...page.items.map(instanceRow));
    show('instances-more', Boolean(page.next));
  } catch (error) {
    if (!isLatest()) return;
    setText('flows-error', `Listing instances failed: ${error.message}`);
  } finally {
    if (isLatest()) {
      $('instances-more').disabled = false;
      keepFocus(had, 'instances-title');
    }
  }
}

function instanceRow(item) {
  if (item.invalid) {
    return el('tr', { className: 'invalid', dataset: { key: item.key } },
      el('td', { colSpan: 6 }, `(${item.invalid})`),
      el('td', { className: 'mono' }, item.key),
      el('td', { className: 'mono' }, item.version ?? '—'));
  }
  return el('tr', { dataset: { key: item.key } },
    el('td', { className: 'mono' }, item.instance_id),
    el('td', { className: 'mono' }, item.variant_id),
    el('td', { className: 'mono' }, item.step),
    el('td', {}, item.status),
    el('td', {}, when(item.saved_at)),
    el('td', {}, item.schema_version ?? '—'),
    el('td', { className: 'key' }, item.key),
    el('td', { className: 'mono' }, item.version ?? '—'));
}
