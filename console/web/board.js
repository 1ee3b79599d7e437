// /board: every status code with its name and how many objects have it.
import { api } from './api.js';
import { dataTable, emptyRow, h, replaceKeepingFocus, row, show } from './dom.js';
import { timeElement } from './time.js';

export function boardView(root) {
  const { table, tbody } = dataTable('Status board', ['Object', 'Code', 'Name', 'Count'], { quiet: true });
  // The server counts every few seconds (a full count of a million-record job takes about half a second).
  const asOf = h('p', { class: 'as-of' });
  root.append(h('h1', {}, 'Status board'), asOf, table);

  let loads = 0;
  async function load() {
    const ticket = ++loads;
    const data = await api('/api/board');
    if (ticket !== loads) return; // a newer load is under way
    asOf.replaceChildren('Counts as of ', timeElement(data.as_of));
    // Counts from before the last few seconds are being redone now: ask again shortly.
    if (Date.now() - new Date(data.as_of).getTime() > 3000) setTimeout(() => { if (ticket === loads) load(); }, 1000);
    replaceKeepingFocus(tbody, data.board.length
      ? data.board.map((b) => row([show(b.object), show(b.code), show(b.name), show(b.count)]))
      : [emptyRow(4, 'No status codes.')]);
  }
  return { title: 'Status board', load };
}
