// Builds the page from API data with createElement and text nodes only:
// the values come from user-submitted records and may hold markup.

/// h('a', {href: '/jobs'}, 'Serial jobs'); on* attributes become listeners.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

/// A value as a person reads it: "—" for nothing.
export function show(value) {
  if (value === null || value === undefined || value === '') return '—';
  return String(value);
}

/// A table named by its caption; `quiet` hides the caption from the eye
/// where the page heading already says the same.
export function dataTable(caption, headers, { quiet = false } = {}) {
  const tbody = h('tbody');
  const cells = headers.map((header) => (header instanceof Node ? header : h('th', { scope: 'col' }, header)));
  const table = h('table', {}, h('caption', { class: quiet ? 'visually-hidden' : null }, caption),
    h('thead', {}, h('tr', {}, cells)), tbody);
  return { table, tbody };
}

export function row(cells) {
  return h('tr', {}, cells.map((cell) => h('td', {}, cell)));
}

export function emptyRow(columns, text) {
  return h('tr', {}, h('td', { colspan: columns, class: 'empty' }, text));
}

export function definitions(pairs) {
  return h('dl', {}, pairs.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/// Replaces the children of `parent`; the focused control, if it was in
/// there, gets focus back by id, so a live refresh does not steal it.
export function replaceKeepingFocus(parent, nodes) {
  const focused = document.activeElement;
  const id = focused && parent.contains(focused) ? focused.id : '';
  parent.replaceChildren(...nodes);
  if (id) document.getElementById(id)?.focus();
}

/// A link whose target is hidden when there is no such page.
export function setPagerLink(link, url) {
  link.hidden = !url;
  if (url) link.setAttribute('href', url);
  else link.removeAttribute('href');
}

// One alert and one status region for the whole page, present from the
// start so screen readers announce what is written into them. An alert
// remembers its source: a failed load is cleared by the next good load,
// but that must not wipe the refusal of an action the user just pressed.
let alertSource = null;

export function showAlert(message, source = 'action') {
  document.getElementById('status').textContent = '';
  document.getElementById('alert').textContent = message;
  alertSource = source;
}

export function clearAlert(source) {
  if (source && source !== alertSource) return;
  document.getElementById('alert').textContent = '';
  alertSource = null;
}

export function showStatus(message) {
  clearAlert();
  document.getElementById('status').textContent = message;
}

export function clearMessages() {
  clearAlert();
  document.getElementById('status').textContent = '';
}
