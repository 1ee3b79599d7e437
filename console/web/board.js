// /board: every status code with its name and how many objects have it.
import { api } from './api.js';
import { dataTable, emptyRow, h, replaceKeepingFocus, row, show } from './dom.js';

export function boardView(root) {
  const { table, tbody } = dataTable('Status board', ['Object', 'Code', 'Name', 'Count'], { quiet: true });
  root.append(h('h1', {}, 'Status board'), table);

  let loads = 0;
  async function load() {
    const ticket = ++loads;
    const data = await api('/api/board');
    if (ticket !== loads) return; // a newer load is under way
    replaceKeepingFocus(tbody, data.board.length
      ? data.board.map((b) => row([show(b.object), show(b.code), show(b.name), show(b.count)]))
      : [emptyRow(4, 'No status codes.')]);
  }
  return { title: 'Status board', load };
}
