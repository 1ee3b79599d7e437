// /processes: one row per recipient delivery (seed process-details.txt),
// today by default, sortable, with a details region per row.
import { api } from './api.js';
import { dataTable, definitions, emptyRow, h, replaceKeepingFocus, row, setPagerLink, show } from './dom.js';
import { filterBar } from './filters.js';
import { timeElement, todayUtc } from './time.js';
import { navigate, params, withParams } from './url.js';

const FILTERS = ['from', 'to', 'q', 'project', 'template', 'state', 'sort', 'dir'];
const STATES = ['ok', 'error', 'open', 'excluded', 'cancelled'];
// A symbol and a word, so the state never rests on colour alone.
const INDICATOR_SYMBOLS = { ok: '✓', error: '✕', open: '…', excluded: '–', cancelled: '⊘' };
const SORTABLE = [['#', 'process'], ['Created', 'created_at'], ['Destination', 'destination'], ['Template', 'template']];
const COLUMNS = 10;

export function processesView(root) {
  const filters = filterBar([
    // Without from the API lists today in UTC, so that is the date to show.
    { param: 'from', label: 'From', kind: 'date', fallback: todayUtc },
    { param: 'to', label: 'To', kind: 'date' },
    { param: 'q', label: 'Search', kind: 'search' },
    { param: 'project', label: 'Project', kind: 'select' },
    { param: 'template', label: 'Template', kind: 'select' },
    { param: 'state', label: 'State', kind: 'select', options: [['', 'any'], ...STATES.map((s) => [s, s])] },
  ], 'after');
  const exportLink = h('a', { class: 'export', download: 'processes.csv' }, 'Export');
  filters.element.append(exportLink);

  const sortHeaders = new Map(SORTABLE.map(([label, key]) => {
    const arrow = h('span', { 'aria-hidden': 'true', class: 'arrow' });
    const th = h('th', { scope: 'col' }, h('button', { type: 'button', onclick: () => sortBy(key) }, label, arrow));
    return [label, { key, th, arrow }];
  }));
  const { table, tbody } = dataTable('Processes', [
    h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Details')),
    ...['#', 'Created', 'Project', 'Destination', 'Agent', 'Expiration', 'Deleted', 'Template', 'State']
      .map((label) => sortHeaders.get(label)?.th ?? label),
  ], { quiet: true });
  const countLine = h('p', { class: 'count' });
  const firstPage = h('a', {}, 'First page');
  const nextPage = h('a', {}, 'Next page');
  root.append(h('h1', {}, 'Processes'), filters.element, table, countLine,
    h('nav', { class: 'pager', 'aria-label': 'Pages of processes' }, firstPage, nextPage));

  let rows = [];
  const expanded = new Set();
  const details = new Map();

  // The sorted column flips its direction; another column starts ascending.
  function sortBy(key) {
    const query = params();
    const sameColumn = (query.get('sort') || 'process') === key;
    const dir = sameColumn && (query.get('dir') || 'desc') === 'asc' ? 'desc' : 'asc';
    navigate(withParams({ sort: key, dir, after: null }));
  }

  function toggle(process) {
    if (expanded.has(process)) expanded.delete(process);
    else {
      expanded.add(process);
      if (!details.has(process)) fetchDetails(process);
    }
    draw();
  }

  async function fetchDetails(process) {
    const data = await api(`/api/processes/${process}`).catch((error) => ({ error: error.message }));
    details.set(process, data.process ?? { error: data.error });
    draw();
  }

  function draw() {
    const nodes = [];
    for (const process of rows) {
      const open = expanded.has(process.process);
      nodes.push(processRow(process, open, toggle));
      if (open) nodes.push(detailsRow(process.process, details.get(process.process)));
    }
    replaceKeepingFocus(tbody, nodes.length ? nodes : [emptyRow(COLUMNS, 'No processes match these filters.')]);
  }

  let loads = 0;
  async function load() {
    filters.sync();
    const query = params();
    const sort = query.get('sort') || 'process';
    const dir = query.get('dir') || 'desc';
    for (const { key, th, arrow } of sortHeaders.values()) {
      const sorted = key === sort;
      th.setAttribute('aria-sort', sorted ? (dir === 'asc' ? 'ascending' : 'descending') : 'none');
      arrow.textContent = sorted ? (dir === 'asc' ? ' ▲' : ' ▼') : '';
    }
    const request = new URLSearchParams();
    for (const name of FILTERS) if (query.get(name)) request.set(name, query.get(name));
    exportLink.setAttribute('href', request.toString() ? `/api/processes.csv?${request}` : '/api/processes.csv');
    if (query.get('after')) request.set('after', query.get('after'));
    request.set('limit', 50);
    const ticket = ++loads;
    const data = await api(`/api/processes?${request}`);
    if (ticket !== loads) return; // a newer load is under way
    rows = data.rows;
    draw();
    for (const process of rows) if (expanded.has(process.process)) fetchDetails(process.process);
    countLine.textContent = data.count_capped ? '10 000+ processes'
      : `${groupDigits(data.count)} ${data.count === 1 ? 'process' : 'processes'}`;
    setPagerLink(firstPage, query.get('after') ? withParams({ after: null }) : null);
    const next = data.next_after; // the server sends the cursor as JSON text; pass it back untouched
    const cursor = next == null || typeof next === 'string' ? next : JSON.stringify(next);
    setPagerLink(nextPage, cursor == null ? null : withParams({ after: cursor }));
  }
  return { title: 'Processes', load };
}

function processRow(process, open, toggle) {
  const n = process.process;
  const button = h('button', {
    type: 'button', class: 'toggle', id: `process-${n}-toggle`,
    'aria-label': `Details for process ${n}`, 'aria-expanded': String(open),
    'aria-controls': open ? `process-${n}-details` : null, // only while the region exists
    onclick: () => toggle(n),
  }, open ? '−' : '+');
  return row([
    button,
    show(n),
    timeElement(process.created_at),
    show(process.project),
    show(process.destination),
    show(process.agent),
    timeElement(process.expires_at),
    timeElement(process.deleted_at),
    show(process.template),
    indicator(process.indicator),
  ]);
}

function indicator(state) {
  if (!state) return '—';
  return h('span', { class: `indicator indicator-${state}` },
    h('span', { 'aria-hidden': 'true' }, INDICATOR_SYMBOLS[state] ?? '•'), ` ${state}`);
}

function detailsRow(n, process) {
  const region = h('div', { role: 'region', 'aria-label': `Process ${n} details`, id: `process-${n}-details`, class: 'details' });
  if (!process) region.append(h('p', {}, 'Loading…'));
  else if (process.error) region.append(h('p', {}, `Could not load the details: ${process.error}`));
  else region.append(...detailPanels(process));
  return h('tr', { class: 'details-row' }, h('td', { colspan: COLUMNS }, region));
}

function detailPanels(p) {
  const panel = (title, pairs) => h('section', {}, h('h3', {}, title), definitions(pairs));
  const workflow = p.workflow === null || p.workflow === undefined ? '—'
    : h('a', { href: `/jobs/${encodeURIComponent(p.workflow)}`, id: `process-${p.process}-workflow` }, `Job ${p.workflow}`);
  return [
    panel('Process', [
      ['#', show(p.process)], ['Token', show(p.token)], ['Workflow', workflow], ['Recipient number', show(p.record_no)],
      ['Role', show(p.role)], ['Channel', show(p.channel)], ['Status', show(p.status_name)], ['Error', show(p.error)],
    ]),
    panel('Archive', [
      ['Posted', timeElement(p.archived_at)], ['Doc number', show(p.doc_number)],
      ['Archive status', show(p.archive_status)], ['Archive error', show(p.archive_error)],
    ]),
    panel('Mail', [
      ['Address', show(p.destination)], ['Posted', timeElement(p.posted_at)],
      ['Post status', show(p.post_status)], ['Post error', show(p.post_error)],
    ]),
  ];
}

/// 10000 → "10 000", the way the count cap is written.
function groupDigits(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}
