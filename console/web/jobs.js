// /jobs: the serial jobs overview (seed serial-jobs-overview.txt), newest
// first, paged backwards by job id.
import { api } from './api.js';
import { dataTable, emptyRow, h, replaceKeepingFocus, row, setPagerLink, show } from './dom.js';
import { filterBar } from './filters.js';
import { timeElement } from './time.js';
import { params, withParams } from './url.js';

const FILTERS = ['q', 'project', 'template', 'from', 'to'];

export function jobsView(root) {
  const filters = filterBar([
    { param: 'q', label: 'Search', kind: 'search' },
    { param: 'project', label: 'Project', kind: 'select' },
    { param: 'template', label: 'Template', kind: 'select' },
    { param: 'from', label: 'From', kind: 'date' },
    { param: 'to', label: 'To', kind: 'date' },
  ], 'before');
  const { table, tbody } = dataTable('Serial jobs', ['#', 'Created', 'Document', 'Project', 'State', 'Records'],
    { quiet: true });
  const newest = h('a', {}, 'Newest jobs');
  const older = h('a', {}, 'Older jobs');
  root.append(h('h1', {}, 'Serial jobs'), filters.element, table,
    h('nav', { class: 'pager', 'aria-label': 'Pages of serial jobs' }, newest, older));

  let loads = 0;
  async function load() {
    filters.sync();
    const query = params();
    const request = new URLSearchParams({ limit: 50 });
    for (const name of [...FILTERS, 'before']) if (query.get(name)) request.set(name, query.get(name));
    const ticket = ++loads;
    const data = await api(`/api/jobs?${request}`);
    if (ticket !== loads) return; // a newer load is under way
    replaceKeepingFocus(tbody, data.jobs.length
      ? data.jobs.map(jobRow)
      : [emptyRow(6, 'No serial jobs match these filters.')]);
    setPagerLink(newest, query.get('before') ? withParams({ before: null }) : null);
    setPagerLink(older, data.next_before == null ? null : withParams({ before: data.next_before }));
  }
  return { title: 'Serial jobs', load };
}

function jobRow(job) {
  return row([
    h('a', { href: `/jobs/${job.job_id}`, id: `job-${job.job_id}-link` }, `#${job.job_id}`),
    timeElement(job.created_at),
    documentName(job),
    show(job.project),
    show(job.state),
    show(job.n_records),
  ]);
}

/// "invoice v3": the template and the version this job was made from.
export function documentName(job) {
  return job.template_version === null || job.template_version === undefined
    ? show(job.template) : `${job.template} v${job.template_version}`;
}
