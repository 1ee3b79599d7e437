// /jobs/<id>: one serial job's detail window (seed serial-jobs-overview.txt):
// its counts and lifecycle word, the operator's three actions, and its items.
import { api, session } from './api.js';
import { dataTable, definitions, emptyRow, h, replaceKeepingFocus, row, setPagerLink, show, showAlert,
  showStatus } from './dom.js';
import { documentName } from './jobs.js';
import { timeElement } from './time.js';
import { navigate, params, withParams } from './url.js';

const ITEM_STATES = ['pending', 'open', 'successful', 'failed', 'skipped manually', 'cancelled', 'excluded', 'deleted'];

const ACTIONS = [
  { label: 'Reattempt failed', path: 'retry', allowed: 'can_retry', done: 'reattempted' },
  { label: 'Skip erroneous', path: 'skip', allowed: 'can_skip', done: 'skipped' },
  { label: 'Cancel job', path: 'cancel', allowed: 'can_cancel', done: 'cancelled' },
];

const count = (n) => (n === 1 ? '1 item' : `${n} items`);

export function jobView(root, id) {
  const summary = h('div', { class: 'summary' });
  const viewer = session.role === 'viewer';
  const note = h('span', { id: 'operator-only', class: 'note', hidden: !viewer }, '(operator only)');
  const buttons = ACTIONS.map((action) => {
    const button = h('button', {
      type: 'button',
      'aria-describedby': viewer ? 'operator-only' : null,
      disabled: true, // until the job is loaded and says what is allowed
      onclick: () => act(action, button),
    }, action.label);
    return { action, button };
  });

  const stateSelect = h('select', {
    id: 'item-state',
    onchange: () => navigate(withParams({ state: stateSelect.value, after: null })),
  }, h('option', { value: '' }, 'all'), ITEM_STATES.map((s) => h('option', { value: s }, s)));
  const { table, tbody } = dataTable('Items',
    ['Record', 'Recipient', 'Channel', 'Last attempt', 'Attempt', 'State', 'Error']);
  const first = h('a', {}, 'First items');
  const more = h('a', {}, 'More items');

  root.append(
    h('h1', {}, `Job ${id}`), summary,
    h('div', { class: 'actions' }, buttons.map((b) => b.button), note),
    h('div', { class: 'filters' }, h('div', { class: 'field' }, h('label', { for: 'item-state' }, 'Item state'), stateSelect)),
    table,
    h('nav', { class: 'pager', 'aria-label': 'Pages of items' }, first, more));

  async function act(action, button) {
    if (action.path === 'cancel' && !confirm(`Cancel job ${id}? This cannot be undone.`)) return;
    button.disabled = true;
    try {
      const result = await api(`/api/jobs/${id}/${action.path}`, { method: 'POST' });
      showStatus(`${count(result.changed)} ${action.done}`);
    } catch (error) {
      showAlert(error.message);
    }
    await load().catch((error) => showAlert(error.message, 'load'));
  }

  let loads = 0;
  async function load() {
    const query = params();
    if (stateSelect !== document.activeElement) stateSelect.value = query.get('state') ?? '';
    const request = new URLSearchParams({ limit: 100 });
    for (const name of ['state', 'after']) if (query.get(name)) request.set(name, query.get(name));
    const ticket = ++loads;
    const [jobData, itemData] = await Promise.all([api(`/api/jobs/${id}`), api(`/api/jobs/${id}/items?${request}`)]);
    if (ticket !== loads) return; // a newer load is under way
    const job = jobData.job;
    summary.replaceChildren(jobDefinitions(job));
    for (const { action, button } of buttons) button.disabled = viewer || !job[action.allowed];
    replaceKeepingFocus(tbody, itemData.items.length
      ? itemData.items.map(itemRow)
      : [emptyRow(7, 'No items in this state.')]);
    setPagerLink(first, query.get('after') ? withParams({ after: null }) : null);
    setPagerLink(more, itemData.next_after == null ? null : withParams({ after: itemData.next_after }));
  }
  return { title: `Job ${id}`, load };
}

function jobDefinitions(job) {
  const pairs = [
    ['State', show(job.state)],
    ['Template', documentName(job)],
    ['Project', show(job.project)],
    ['Created', timeElement(job.created_at)],
    ['Created by', show(job.created_by)],
    ['Records', show(job.n_records)],
    ['Errors', show(job.errors)],
    ['Delivered', show(job.recipients_delivered)],
    ['Failed', show(job.recipients_failed)],
    ['Excluded', show(job.recipients_excluded)],
    ['Cancelled', show(job.recipients_cancelled)],
    ['Open', show(job.recipients_open)],
    ['Last change', timeElement(job.status_changed_at)],
    ['Last error', show(job.last_error)],
  ];
  if (job.job_error) pairs.push(['Job error', show(job.job_error)]);
  if (job.deleted_at) pairs.push(['Deleted', timeElement(job.deleted_at)]);
  return definitions(pairs);
}

function itemRow(item) {
  return row([
    show(item.record_no),
    show(item.recipient),
    show(item.channel),
    timeElement(item.last_attempt),
    show(item.attempt),
    show(item.state),
    show(item.error),
  ]);
}
