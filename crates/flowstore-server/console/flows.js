// The Flows page: for one flow id, how many active instances sit at each
// step (the "where are users stuck" chart), how many are complete, and the
// instances themselves. The server counts in bounded steps; "Count more"
// asks for the next step and adds it up here.

import { $, el, setText, show, status, when } from './dom.js';
import * as api from './api.js';

const INSTANCES_PER_PAGE = 50;

let current = null;

export function setup() {
  $('flows-form').addEventListener('submit', (event) => {
    event.preventDefault();
    start($('flow-id').value.trim(), $('flow-prefix').value.trim());
  });
  $('flow-more').addEventListener('click', () => count());
  $('instances-more').addEventListener('click', () => instances());
}

export function enter() {}

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
  count();
  instances();
}

async function count() {
  const run = current;
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
    el('td', { className: 'mono' }, item.instanceId),
    el('td', { className: 'mono' }, item.variantId),
    el('td', { className: 'mono' }, item.step),
    el('td', {}, item.status),
    el('td', {}, when(item.savedAt)),
    el('td', {}, item.schemaVersion ?? '—'),
    el('td', { className: 'key' }, item.key),
    el('td', { className: 'mono' }, item.version ?? '—'));
}
