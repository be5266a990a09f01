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

const prefix = () => $('flow-prefix').value.trim() || 'useflow';

/** One step of the discovery: `fresh` starts over (with the prefix typed now). */
async function discover(fresh) {
  if (fresh || found === null) found = { prefix: prefix(), flows: new Map(), scanned: 0, other: 0, next: null };
  const scan = found;
  const had = document.activeElement;
  $('flows-scan').disabled = true;
  $('flows-scan-more').disabled = true;
  setText('flows-error', '');
  status('Looking for flows…');
  try {
    const page = await api.discoverFlows(scan.prefix, scan.next);
    if (scan !== found) return;
    for (const { flow_id: id, keys } of page.flows) scan.flows.set(id, (scan.flows.get(id) ?? 0) + keys);
    scan.scanned += page.scanned;
    scan.other += page.other;
    scan.next = page.next;
    renderFound(scan);
    status(scan.next ? 'Scanned part of the keys for flows.' : 'Scanned every key for flows.');
  } catch (error) {
    setText('flows-error', `Looking for flows failed: ${error.message}`);
    status('');
  } finally {
    $('flows-scan').disabled = false;
    $('flows-scan-more').disabled = false;
    keepFocus(had, 'flows-found-title');
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
  setText('flows-found-caption', `${seen}: ${what}${other}. Or type a flow id above.`);
  show('flows-scan-more', Boolean(scan.next));
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
  setText('flows-error', '');
  show('flow-result', true);
  $('flow-title').focus();
  count();
  instances();
}

async function count() {
  const run = current;
  const had = document.activeElement;
  $('flow-more').disabled = true;
  status('Counting instances…');
  try {
    const summary = await api.flowSummary(run.flow, run.prefix, run.next);
    if (run !== current) return;
    for (const [step, active] of Object.entries(summary.steps)) {
      run.steps.set(step, (run.steps.get(step) ?? 0) + active);
    }
    run.completed += summary.completed;
    run.other += summary.other;
    run.invalid += summary.invalid;
    run.scanned += summary.scanned;
    run.next = summary.next;
    renderSummary(run);
    status(run.next ? 'Counted part of the flow.' : 'Counted every instance.');
  } catch (error) {
    setText('flows-error', `Counting failed: ${error.message}`);
    status('');
  } finally {
    $('flow-more').disabled = false;
    keepFocus(had, 'flow-title');
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
  const had = document.activeElement;
  $('instances-more').disabled = true;
  try {
    const page = await api.flowInstances(run.flow, run.prefix, run.instancesNext, INSTANCES_PER_PAGE);
    if (run !== current) return;
    run.instancesNext = page.next;
    $('instances-rows').append(...page.items.map(instanceRow));
    show('instances-more', Boolean(page.next));
  } catch (error) {
    setText('flows-error', `Listing instances failed: ${error.message}`);
  } finally {
    $('instances-more').disabled = false;
    keepFocus(had, 'instances-title');
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
