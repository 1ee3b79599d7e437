// The filter bar of /jobs and /processes. Each control mirrors one query
// parameter; a change writes the URL and the router reloads the list. The
// page cursor is dropped on every change: a cursor of the old filter means
// nothing under the new one.
import { api } from './api.js';
import { h, showAlert } from './dom.js';
import { navigate, params, withParams } from './url.js';

const SEARCH_DELAY_MS = 300;

/// fields: [{param, label, kind: 'search'|'date'|'select', options?, fallback?}]
/// options: [[value, text]…]; for 'project' and 'template' they come from /api/filters.
export function filterBar(fields, cursorParam) {
  const controls = new Map();
  let choices = { projects: [], templates: [] };
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (event) => event.preventDefault() });

  function apply(param, value, replace = false) {
    const changes = { [param]: value, [cursorParam]: null };
    if (param === 'project' && !templatesOf(value).includes(params().get('template'))) changes.template = null;
    navigate(withParams(changes), { replace });
  }

  function templatesOf(project) {
    const rows = choices.templates.filter((t) => !project || t.project === project);
    return [...new Set(rows.map((t) => t.template))].sort();
  }

  for (const field of fields) {
    const id = `filter-${field.param}`;
    let control;
    if (field.kind === 'select') {
      control = h('select', { id, name: field.param, onchange: () => apply(field.param, control.value) });
      setOptions(control, field.options ?? [['', 'any']]);
    } else if (field.kind === 'date') {
      control = h('input', { id, name: field.param, type: 'date', onchange: () => apply(field.param, control.value) });
    } else {
      // The first keystroke of an edit adds a history entry; the rest of the
      // same edit replaces it, so Back leaves the search in one step.
      let timer = null;
      let editing = false;
      const commit = () => {
        clearTimeout(timer);
        apply(field.param, control.value.trim(), editing);
        editing = false;
      };
      control = h('input', {
        id, name: field.param, type: 'search', autocomplete: 'off',
        oninput: () => {
          clearTimeout(timer);
          timer = setTimeout(() => {
            if (!control.isConnected) return; // the user went to another page meanwhile
            apply(field.param, control.value.trim(), editing);
            editing = true;
          }, SEARCH_DELAY_MS);
        },
        onkeydown: (event) => { if (event.key === 'Enter') commit(); },
        onblur: () => { editing = false; },
      });
    }
    controls.set(field.param, { control, field });
    form.append(h('div', { class: 'field' }, h('label', { for: id }, field.label), control));
  }

  function sync() {
    const query = params();
    const project = controls.get('project');
    if (project) setOptions(project.control, [['', 'any'], ...choices.projects.map((p) => [p, p])]);
    const template = controls.get('template');
    if (template) setOptions(template.control, [['', 'any'], ...templatesOf(query.get('project')).map((t) => [t, t])]);
    for (const [param, { control, field }] of controls) {
      // Never overwrite what the user is typing or choosing.
      if (control === document.activeElement) continue;
      const value = query.get(param) ?? field.fallback?.() ?? '';
      if (control.tagName === 'SELECT' && ![...control.options].some((o) => o.value === value)) {
        control.append(h('option', { value }, value)); // a shared link may name what the list lacks
      }
      if (control.value !== value) control.value = value;
    }
  }

  if (controls.has('project')) {
    api('/api/filters')
      .then((data) => { choices = data; sync(); })
      .catch((error) => showAlert(error.message, 'load'));
  }
  return { element: form, sync };
}

function setOptions(select, options) {
  const same = select.options.length === options.length &&
    options.every(([value, text], i) => select.options[i].value === value && select.options[i].text === text);
  if (same) return; // rebuilding an open list would close it under the user's pointer
  select.replaceChildren(...options.map(([value, text]) => h('option', { value }, text)));
}
