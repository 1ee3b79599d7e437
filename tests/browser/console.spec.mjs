// Browser test of al-console (docs/console.md): headless Debian Chromium,
// driven by playwright-core, against a running console, its database and a
// running line. tests/browser/console_browser_test.cpp starts all three and
// runs this script; by hand:
//
//   NODE_PATH=DIR/node_modules CONSOLE_URL=http://127.0.0.1:PORT DATABASE_URL=postgresql://… \
//   OLGA_PASSWORD=… VICTOR_PASSWORD=… SCREENSHOT_DIR=/tmp/shots node tests/browser/console.spec.mjs
//
// olga is an operator, victor a viewer. The line must be running (jobs must
// finish). A fresh database is best; what the page lists is compared with the
// same query on al.processes, so other rows of the day do no harm.
// AL_UPDATE_SCREENSHOTS_DIR, when set, receives console-jobs.png and
// console-processes.png too (docs/). CHROMIUM_PATH overrides /usr/bin/chromium.
// Exit code 0: every step passed; 1: a step failed (its message says got/want);
// 2: the environment is incomplete.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

// ES modules ignore NODE_PATH; require() honours it, and that is where setup
// installed the packages.
const require = createRequire(import.meta.url);

const STEP_MS = 10_000;       // any one thing the page should do
const LIVE_MS = 5_000;        // a change in the database reaches an open page
const LINE_MS = 30_000;       // the line finishes a small job
const REATTEMPT_MS = 60_000;  // failed items reattempted and through the line again
const WHOLE_MS = 150_000;     // the whole spec, browser start included

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                        '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PAGE_ROWS = 50;          // the processes page asks for 50 rows at a time
const ITEM_STATES = ['skipped manually', 'successful', 'failed', 'cancelled', 'excluded', 'deleted', 'pending', 'open'];

// ---------------------------------------------------------------------------
// Environment

function required_env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`console.spec: ${name} is not set (see the head of tests/browser/console.spec.mjs)`);
    process.exit(2);
  }
  return value;
}

const BASE = required_env('CONSOLE_URL').replace(/\/+$/, '');
const DATABASE_URL = required_env('DATABASE_URL');
const OLGA_PASSWORD = required_env('OLGA_PASSWORD');
const VICTOR_PASSWORD = required_env('VICTOR_PASSWORD');
const SCREENSHOT_DIR = required_env('SCREENSHOT_DIR');
const UPDATE_DIR = process.env.AL_UPDATE_SCREENSHOTS_DIR || '';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let chromium, AXE_SOURCE;
try {
  ({ chromium } = require('playwright-core'));
  AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
} catch (e) {
  console.error(`console.spec: cannot load playwright-core and axe-core (${e.message.split('\n')[0]}); ` +
                'run tests/browser/setup DIR and set NODE_PATH=DIR/node_modules');
  process.exit(2);
}
if (!fs.existsSync(CHROMIUM)) {
  console.error(`console.spec: no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  process.exit(2);
}
fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });

// ---------------------------------------------------------------------------
// Database, through psql (no driver package needed)

/** A SQL string literal. */
const lit = (text) => `'${String(text).replaceAll("'", "''")}'`;

/** Runs one statement; its first column, rows joined by newlines. UTC like the console's sessions. */
function sql(statement) {
  try {
    return execFileSync('psql', [DATABASE_URL, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', statement],
                        { encoding: 'utf8', env: { ...process.env, PGTZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] })
      .replace(/\n$/, '');
  } catch (e) {
    throw new Error(`psql: ${statement}\n  ${String(e.stderr || e.message).trim()}`);
  }
}

/** The WHERE of the processes list for the page's filters, as docs/console.md describes them. */
function process_filter_sql(params) {
  const value = (name) => (params.get(name) ? lit(params.get(name)) : 'NULL');
  const from = value('from'), to = value('to');
  const conditions = [`p.created_at >= coalesce(${from}::timestamptz, date_trunc('day', now()))`];
  if (params.get('to')) {
    conditions.push(`p.created_at < CASE WHEN ${to} ~ '^\\d{4}-\\d{2}-\\d{2}$' THEN (${to}::date + 1)::timestamptz ` +
                    `ELSE ${to}::timestamptz END`);
  }
  if (params.get('project')) conditions.push(`p.project = ${value('project')}`);
  if (params.get('template')) conditions.push(`p.template = ${value('template')}`);
  if (params.get('state')) conditions.push(`p.indicator = ${value('state')}`);
  if (params.get('q')) {
    const pattern = lit(`%${params.get('q').replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    conditions.push(`(p.destination ILIKE ${pattern} OR p.template ILIKE ${pattern} OR p.record::text ILIKE ${pattern})`);
  }
  return conditions.join(' AND ');
}

/** Process numbers of the filtered set in the page's order (sort, dir). */
function processes_in_order(params, limit = null) {
  const column = { created_at: 'created_at', destination: 'destination', template: 'template' }[params.get('sort')];
  const dir = params.get('dir') === 'asc' ? 'ASC' : 'DESC';
  const order = column ? `p.${column} ${dir}, p.process ${dir}` : `p.process ${dir}`;
  const text = sql(`SELECT p.process FROM al.processes p WHERE ${process_filter_sql(params)} ORDER BY ${order}` +
                   (limit ? ` LIMIT ${limit}` : ''));
  return text === '' ? [] : text.split('\n').map(Number);
}

// ---------------------------------------------------------------------------
// Waiting and reading the page

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` (returning {ok, got}) until ok; throws "what: not within N s; got …".
 * A probe that returns {fail: text} ends the wait at once.
 */
async function eventually(what, timeout_ms, probe) {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    let last;
    try {
      last = await probe();
    } catch (e) {
      last = { ok: false, got: `(${e.message.split('\n')[0]})` };
    }
    if (last.fail) throw new Error(`${what}: ${last.fail}`);
    if (last.ok) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout_ms / 1000} s; got ${last.got}`);
    await sleep(200);
  }
}

async function wait_for_sql(what, statement, want, timeout_ms) {
  return (await eventually(what, timeout_ms, async () => {
    const got = sql(statement);
    return { ok: typeof want === 'function' ? want(got) : got === want, got: JSON.stringify(got), value: got };
  })).value;
}

async function wait_for_path(page, pathname, timeout_ms = STEP_MS) {
  await eventually(`the page goes to ${pathname}`, timeout_ms, async () => {
    const url = new URL(page.url());
    return { ok: url.pathname === pathname, got: url.pathname + url.search };
  });
}

const page_params = (page) => new URL(page.url()).searchParams;

/** Text of every role=alert / role=status with something in it. */
async function announcements(page, role) {
  return (await page.getByRole(role).allInnerTexts()).map((t) => t.trim()).filter(Boolean);
}

const processes_table = (page) => page.getByRole('table', { name: 'Processes', exact: true });

/** Process numbers listed, in the page's order, from the row buttons' accessible names. */
async function listed_processes(page) {
  const snapshot = await processes_table(page).ariaSnapshot({ timeout: STEP_MS });
  return [...snapshot.matchAll(/button "Details for process (\d+)"/g)].map((m) => Number(m[1]));
}

async function expect_listed(page, what, want) {
  await eventually(what, STEP_MS, async () => {
    const got = await listed_processes(page);
    return { ok: JSON.stringify(got) === JSON.stringify(want), got: `[${got}], want [${want}]` };
  });
}

/**
 * The state word of each row of the Items table: from its "State" column, or
 * (if no header says "State") the first state word in the row.
 */
async function item_states(page) {
  return page.getByRole('table', { name: 'Items', exact: true }).evaluate((table, words) => {
    const headers = [...table.querySelectorAll('thead th')].map((th) => th.innerText.trim());
    const column = headers.indexOf('State');
    return [...table.querySelectorAll('tbody tr')].map((tr) => {
      const text = column >= 0 && tr.cells.length === headers.length ? tr.cells[column].innerText : tr.innerText;
      return words.find((w) => new RegExp(`(^|\\W)${w}(\\W|$)`, 'i').test(text)) ?? `? ${tr.innerText.trim()}`;
    });
  }, ITEM_STATES);
}

/** The text of <main> (or the body), without the options of selects: "failed" is an Item state choice too. */
async function main_text(page) {
  return page.evaluate(() => {
    const root = document.querySelector('main') || document.body;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: (node) => (node.parentElement.closest('select, script, style, template')
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
    });
    const parts = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) parts.push(node.textContent);
    return parts.join(' ').replace(/\s+/g, ' ');
  });
}

const count_of = (list, word) => list.filter((s) => s === word).length;

/** Some front ends ask before an action: a native confirm() is accepted by the page's dialog handler, an in-page dialog here. */
async function confirm_if_asked(page) {
  const dialog = page.getByRole('dialog').or(page.getByRole('alertdialog')).first();
  try {
    await dialog.waitFor({ state: 'visible', timeout: 1000 });
  } catch {
    return;
  }
  await dialog.getByRole('button', { name: /^(reattempt( failed)?|confirm|yes|ok|continue)$/i }).first().click();
}

/** fill() then Enter, as a person would finish typing; date inputs take YYYY-MM-DD. */
async function set_field(page, label, value) {
  const input = page.getByLabel(label, { exact: true });
  await input.waitFor({ state: 'visible', timeout: STEP_MS });
  const type = (await input.getAttribute('type')) || 'text';
  await input.fill(type === 'datetime-local' && value ? `${value}T00:00` : value);
  if (!['date', 'datetime-local'].includes(type)) await input.press('Enter');
}

async function sign_in(page, user, password) {
  await page.goto(`${BASE}/signin`);
  await page.getByLabel('User', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await wait_for_path(page, '/jobs');
}

/** fetch() inside the page (same origin, the session cookie, SameSite=Strict honoured). */
async function in_page_fetch(page, url, init = {}) {
  return page.evaluate(async ({ url, init }) => {
    const res = await fetch(url, init);
    const bytes = new Uint8Array(await res.arrayBuffer());
    return {
      status: res.status,
      type: res.headers.get('content-type') || '',
      head: Array.from(bytes.slice(0, 3)),
      text: new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes),  // keeps a BOM as U+FEFF
    };
  }, { url, init });
}

/** RFC 4180: rows of fields. */
function parse_csv(text) {
  const rows = [];
  let row = [], field = '', quoted = false, i = 0;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i += 1; continue; }
      field += c; i += 1; continue;
    }
    if (c === '"' && field === '') { quoted = true; i += 1; continue; }
    if (c === ',') { row.push(field); field = ''; i += 1; continue; }
    if (c === '\r' || c === '\n') {
      row.push(field); rows.push(row); row = []; field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += c; i += 1;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

async function run_axe(page, label) {
  await page.evaluate(AXE_SOURCE);  // evaluate, not addScriptTag: the console's CSP forbids inline scripts
  const violations = await page.evaluate(async () =>
    (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 200)}`),
      more: Math.max(0, v.nodes.length - 3),
    })));
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${label}: ${v.id} (${v.impact}): ${v.help}\n` + v.nodes.map((n) => `      ${n}`).join('\n') +
                (v.more ? `\n      … and ${v.more} more` : ''));
}

async function screenshot(page, name) {
  const file = path.join(SCREENSHOT_DIR, name);
  await page.mouse.move(0, 0);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'hide' });
  if (UPDATE_DIR) {
    fs.mkdirSync(UPDATE_DIR, { recursive: true });
    fs.copyFileSync(file, path.join(UPDATE_DIR, name));
  }
  return file;
}

// ---------------------------------------------------------------------------
// The scenario

const tag = `b${Date.now().toString(36)}`;  // makes this run's destinations unique
const TEMPLATE = 'browser-letter';
const FORMULA_AGENT = '=HYPERLINK("x")';
const state = {};  // what one step leaves for the next: job ids, dates, the chosen process
const pages = {};  // open pages by name, for failure screenshots
const page_errors = [];

function submit_job(template, records, created_by) {
  return Number(sql(`SELECT al.submit_job(${lit(template)}, ${lit(JSON.stringify(records))}::jsonb, ` +
                    `project => 'browser', created_by => ${lit(created_by)})`));
}

const letter = (name, address) => ({
  ...(name ? { name } : {}), balance: 42,
  recipients: [{ channel: 'file', address }],
});

async function new_page(browser, name) {
  const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-US', viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('dialog', (dialog) => dialog.accept());
  page.on('pageerror', (error) => page_errors.push(`${name} ${page.url()}: ${error.message}`));
  pages[name] = page;
  return page;
}

const steps = [];
const step = (name, body) => steps.push({ name, body });

step('a. sign-in: a wrong password is refused on /signin, olga signs in', async ({ browser }) => {
  const page = await new_page(browser, 'olga');
  await page.goto(`${BASE}/jobs`);
  await wait_for_path(page, '/signin');

  await page.getByLabel('User', { exact: true }).fill('olga');
  await page.getByLabel('Password', { exact: true }).fill(`${OLGA_PASSWORD}-wrong`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await eventually('a role=alert says the sign-in failed', STEP_MS, async () => {
    const alerts = await announcements(page, 'alert');
    return { ok: alerts.length > 0, got: 'no role=alert with text' };
  });
  assert.equal(new URL(page.url()).pathname, '/signin', 'a wrong password must leave the page on /signin');

  await page.getByLabel('Password', { exact: true }).fill(OLGA_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await wait_for_path(page, '/jobs');
  const nav = page.getByRole('navigation', { name: 'Main', exact: true });
  for (const link of ['Serial jobs', 'Processes', 'Status board']) {
    await nav.getByRole('link', { name: link, exact: true }).waitFor()
      .catch(() => { throw new Error(`no link "${link}" in the navigation "Main" after signing in`); });
  }
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  const session = JSON.parse((await in_page_fetch(page, '/api/session')).text);
  assert.deepEqual([session.user, session.role], ['olga', 'operator'], 'GET /api/session after signing in');
});

step('b. a job submitted in SQL shows up on /jobs live (no reload) and reaches its final state', async () => {
  const page = pages.olga;
  sql(`SELECT al.put_template(${lit(TEMPLATE)}, '<h1>Dear {{name}}</h1><p>Your balance is {{balance}} EUR.</p>', ` +
      `'Letter for {{name}}', '{name}')`);
  const jobs = page.getByRole('table', { name: 'Serial jobs', exact: true });
  await jobs.waitFor();
  await page.evaluate(() => { window.__al_not_reloaded = true; });

  const records = [1, 2, 3, 4, 5].map((i) => letter(`Person ${i}`, `letters/${tag}-a${i}.html`));
  const job = state.job_a = submit_job(TEMPLATE, records, FORMULA_AGENT);
  const link = jobs.getByRole('link', { name: `#${job}`, exact: true });
  await link.waitFor({ timeout: LIVE_MS }).catch(() => {
    throw new Error(`job ${job}: its link "#${job}" did not appear in "Serial jobs" within ${LIVE_MS / 1000} s without a reload`);
  });
  assert.equal(await page.evaluate(() => window.__al_not_reloaded === true), true,
               'the jobs page must update in place, not reload');

  const final = await wait_for_sql(`job ${job} reaches 999 on the line`,
                                   `SELECT jobstatus || '|' || state FROM al.job_overview WHERE job_id = ${job}`,
                                   (v) => v.startsWith('999|'), LINE_MS);
  const word = final.split('|')[1];
  assert.equal(word, 'created', `job ${job}: state in the database (five file letters, no errors)`);
  // filter({has}) takes a locator relative to the row, so not `link` (rooted at the table).
  const row = jobs.getByRole('row').filter({ has: page.getByRole('link', { name: `#${job}`, exact: true }) });
  await eventually(`job ${job}: its row shows "${word}"`, STEP_MS, async () => {
    const text = await row.innerText();
    return { ok: new RegExp(`\\b${word}\\b`).test(text) && !/in progress|pending|waiting/.test(text), got: JSON.stringify(text) };
  });
  assert.equal(await page.evaluate(() => window.__al_not_reloaded === true), true, 'still no reload');
});

step('c. processes: date and text filters, sort by destination, filters in the URL survive a reload', async () => {
  const page = pages.olga;
  const day = state.day = sql(`SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM al.jobs WHERE job_id = ${state.job_a}`);
  await page.goto(`${BASE}/processes`);
  await processes_table(page).waitFor();

  // A day without processes, then the day of the job.
  const next_day = sql(`SELECT to_char(${lit(day)}::date + 1, 'YYYY-MM-DD')`);
  await set_field(page, 'From', next_day);
  await set_field(page, 'To', next_day);
  await eventually('From/To of the next day reach the URL', STEP_MS, async () => {
    const p = page_params(page);
    return { ok: p.get('from')?.startsWith(next_day) && p.get('to')?.startsWith(next_day), got: page.url() };
  });
  await expect_listed(page, `no processes on ${next_day}`, []);
  await set_field(page, 'From', day);
  await set_field(page, 'To', day);
  await eventually(`From/To ${day} reach the URL`, STEP_MS, async () => {
    const p = page_params(page);
    return { ok: p.get('from')?.startsWith(day) && p.get('to')?.startsWith(day), got: page.url() };
  });
  const all = processes_in_order(page_params(page));
  assert.ok(all.length >= 5, `al.processes holds the five letters of job ${state.job_a}; got ${all.length} rows`);
  await expect_listed(page, `the processes of ${day}, newest first`, all.slice(0, PAGE_ROWS));
  await page.getByText(new RegExp(`(^|\\D)${all.length}\\s+process(es)?\\b`)).first().waitFor()
    .catch(() => { throw new Error(`the count line "${all.length} processes" is not on the page`); });

  // Sort by destination: aria-sort on the header, the rows in the database's order, both directions.
  const header_button = processes_table(page).getByRole('button', { name: 'Destination', exact: true });
  const header = header_button.locator('xpath=ancestor::th[1]');
  const before = await header.getAttribute('aria-sort');
  assert.ok(before === null || before === 'none', `Destination is not sorted before the click; aria-sort=${before}`);
  const seen = [];
  for (let click = 0; click < 2; ++click) {
    await header_button.click();
    const sorted = await eventually('aria-sort of "Destination" changes', STEP_MS, async () => {
      const now = await header.getAttribute('aria-sort');
      const p = page_params(page);
      const ok = ['ascending', 'descending'].includes(now) && now !== seen.at(-1) && p.get('sort') === 'destination' &&
                 p.get('dir') === (now === 'ascending' ? 'asc' : 'desc');
      return { ok, got: `aria-sort=${now}, URL ${page.url()}`, value: now };
    });
    seen.push(sorted.value);
    await expect_listed(page, `rows sorted by destination, ${sorted.value}`, processes_in_order(page_params(page), PAGE_ROWS));
  }
  state.sort_dir = page_params(page).get('dir');

  // Free text: one record's destination, exactly its row.
  const destination = `letters/${tag}-a3.html`;
  const process = state.process = Number(sql(`SELECT process FROM al.processes WHERE destination = ${lit(destination)}`));
  await set_field(page, 'Search', destination);
  await eventually('the search reaches the URL', STEP_MS, async () => ({ ok: page_params(page).get('q') === destination, got: page.url() }));
  await expect_listed(page, `searching "${destination}" lists exactly process ${process}`, [process]);
  assert.deepEqual(processes_in_order(page_params(page)), [process], 'the database agrees on the filtered set');
  const export_href = await page.getByRole('link', { name: 'Export', exact: true }).getAttribute('href');
  const export_params = new URL(export_href, page.url()).searchParams;
  for (const key of ['from', 'to', 'q', 'sort', 'dir']) {
    assert.equal(export_params.get(key), page_params(page).get(key), `Export link parameter ${key} follows the filters`);
  }

  // A reload shows the same.
  const url = page.url();
  await page.reload();
  await expect_listed(page, 'after a reload, the same single row', [process]);
  assert.equal(page.url(), url, 'the reload keeps the URL');
  assert.equal(await page.getByLabel('Search', { exact: true }).inputValue(), destination, 'Search keeps its text after a reload');
  assert.ok((await page.getByLabel('From', { exact: true }).inputValue()).startsWith(day), 'From keeps its date after a reload');
  assert.ok((await page.getByLabel('To', { exact: true }).inputValue()).startsWith(day), 'To keeps its date after a reload');
  assert.equal(await header.getAttribute('aria-sort'), seen.at(-1), 'the sort survives a reload');
});

step('d. the details panel shows the token and the workflow of the process', async () => {
  const page = pages.olga;
  const process = state.process;
  const [token, workflow] = sql(`SELECT token || '|' || workflow FROM al.processes WHERE process = ${process}`).split('|');
  await page.getByRole('button', { name: `Details for process ${process}`, exact: true }).click();
  const region = page.getByRole('region', { name: `Process ${process} details`, exact: true });
  await region.waitFor().catch(() => { throw new Error(`no region "Process ${process} details" after pressing its Details button`); });
  // The region may show "Loading…" before its sections.
  const shown = (await eventually(`the panel of process ${process} shows its sections, Token and Workflow`, STEP_MS, async () => {
    const missing = [];
    for (const section of ['Process', 'Archive', 'Mail']) {
      const named = region.getByRole('heading', { name: section, exact: true })
        .or(region.getByRole('region', { name: section, exact: true }));
      if (await named.count() === 0) missing.push(`section "${section}"`);
    }
    const text = await region.innerText();
    const token_shown = text.match(/Token\W*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i)?.[1];
    const workflow_shown = text.match(/Workflow\W*(?:Job\s*|#)?(\d+)/)?.[1];  // "12", "#12" or "Job 12"
    if (!token_shown) missing.push('a Token (UUID)');
    if (!workflow_shown) missing.push('a Workflow (job id)');
    return { ok: missing.length === 0, got: `no ${missing.join(', ')} in ${JSON.stringify(text)}`, value: { token_shown, workflow_shown } };
  })).value;
  assert.equal(shown.token_shown, token, `process ${process}: Token in the panel`);
  assert.equal(shown.workflow_shown, workflow, `process ${process}: Workflow (job id) in the panel`);
  assert.equal(workflow, String(state.job_a), 'the database says the process belongs to job A');
});

step('e. Export: UTF-8 BOM, header, every filtered row in order, formulas defused', async () => {
  const page = pages.olga;
  await set_field(page, 'Search', '');
  await eventually('the empty search leaves the URL', STEP_MS, async () => ({ ok: !page_params(page).get('q'), got: page.url() }));
  const params = page_params(page);
  const want = processes_in_order(params);
  await expect_listed(page, 'all processes of the day again', want.slice(0, PAGE_ROWS));

  const href = await page.getByRole('link', { name: 'Export', exact: true }).getAttribute('href');
  const url = new URL(href, page.url());
  assert.equal(url.pathname, '/api/processes.csv', `Export link: ${href}`);
  for (const key of ['from', 'to', 'q', 'project', 'template', 'state', 'sort', 'dir']) {
    assert.equal(url.searchParams.get(key) || null, params.get(key) || null, `Export link parameter ${key}: ${href}`);
  }
  const res = await in_page_fetch(page, url.pathname + url.search);
  assert.equal(res.status, 200, `GET ${href}: ${res.text.slice(0, 200)}`);
  assert.match(res.type, /^text\/csv/, 'the export is text/csv');
  assert.deepEqual(res.head, [0xef, 0xbb, 0xbf], 'the export starts with the UTF-8 byte-order mark');

  const rows = parse_csv(res.text.slice(1)).filter((r) => !(r.length === 1 && r[0] === ''));
  const header = rows[0];
  for (const column of ['process', 'created_at', 'project', 'destination', 'channel', 'agent', 'expires_at',
                        'template', 'indicator', 'status_name', 'error']) {
    assert.ok(header.includes(column), `the header row names "${column}"; got ${header.join(',')}`);
  }
  const body = rows.slice(1);
  const count = Number(sql(`SELECT count(*) FROM al.processes p WHERE ${process_filter_sql(params)}`));
  assert.equal(body.length, count, 'one CSV row per process of the filtered set');
  const at = (name) => header.indexOf(name);
  assert.deepEqual(body.map((r) => Number(r[at('process')])), want, 'CSV rows in the page\'s order');
  for (const r of body) assert.equal(r.length, header.length, `every row has ${header.length} fields: ${r.join(',')}`);

  const ours = body.filter((r) => r[at('destination')].startsWith(`letters/${tag}-a`));
  assert.equal(ours.length, 5, `job ${state.job_a}'s five letters are in the export`);
  for (const r of ours) {
    assert.equal(r[at('agent')], `'${FORMULA_AGENT}`, 'an agent beginning with "=" is exported with a leading apostrophe');
  }
  assert.ok(res.text.includes(`"'=HYPERLINK(""x"")"`), 'and quoted as RFC 4180 says (doubled quotes)');
});

step('f. Reattempt failed: two records fixed in SQL go through and the job completes', async () => {
  const page = pages.olga;
  const records = [1, 2, 3, 4].map((i) => letter(i % 2 ? `Person ${i}` : null, `letters/${tag}-r${i}.html`));
  const job = state.job_r = submit_job(TEMPLATE, records, 'browser test');
  await page.goto(`${BASE}/jobs/${job}`);
  await page.getByRole('heading', { level: 1, name: `Job ${job}`, exact: true }).waitFor();

  await eventually(`job ${job}: the two records without "name" show "failed"`, LINE_MS, async () => {
    const states = await item_states(page);
    return { ok: count_of(states, 'failed') === 2, got: JSON.stringify(states) };
  });
  assert.equal(sql(`SELECT count(*) FROM al.trns WHERE job_id = ${job} AND trnstatus = 241`), '2',
               'the database has the two records at 241');
  await wait_for_sql(`job ${job} comes to rest with its errors`, `SELECT jobstatus FROM al.jobs WHERE job_id = ${job}`, '999', LINE_MS);

  // The Item state filter shows only the failed ones.
  await page.getByLabel('Item state', { exact: true }).selectOption('failed');
  await eventually('Item state "failed" reaches the URL and lists two rows', STEP_MS, async () => {
    const states = await item_states(page);
    return { ok: page_params(page).get('state') === 'failed' && states.length === 2 && count_of(states, 'failed') === 2,
             got: `${page.url()} ${JSON.stringify(states)}` };
  });
  await page.goto(`${BASE}/jobs/${job}`);

  const fixed = sql(`WITH u AS (UPDATE al.trns SET data = data || '{"name":"Fixed"}' ` +
                    `WHERE job_id = ${job} AND trnstatus = 241 RETURNING 1) SELECT count(*) FROM u`);
  assert.equal(fixed, '2', 'two records fixed');
  const button = page.getByRole('button', { name: 'Reattempt failed', exact: true });
  await eventually('"Reattempt failed" is enabled for an operator', STEP_MS, async () => ({ ok: await button.isEnabled(), got: 'disabled' }));
  await button.click();
  await confirm_if_asked(page);
  await eventually('the outcome of "Reattempt failed" is announced (role=status)', STEP_MS, async () => {
    const alerts = await announcements(page, 'alert');
    if (alerts.length) return { fail: `role=alert says ${JSON.stringify(alerts)}` };
    const statuses = await announcements(page, 'status');
    return { ok: statuses.length > 0, got: 'no role=status with text' };
  });

  await wait_for_sql(`job ${job} completes without errors after the reattempt`,
                     `SELECT jobstatus || ' ' || state FROM al.job_overview WHERE job_id = ${job}`, '999 created', REATTEMPT_MS);
  await eventually(`job ${job}: every item "successful" on the page`, STEP_MS, async () => {
    const states = await item_states(page);
    return { ok: states.length === 4 && count_of(states, 'successful') === 4, got: JSON.stringify(states) };
  });
  await eventually(`job ${job}: the page says "created", without errors`, STEP_MS, async () => {
    const text = await main_text(page);
    return { ok: /\bcreated\b/.test(text) && !/created with\s+\d+\s+errors?/.test(text), got: JSON.stringify(text.slice(0, 300)) };
  });
  const actions = Number(sql(`SELECT count(*) FROM al.status_history WHERE object = 'JOBS' AND id = ${job} ` +
                             `AND changed_by = 'console:olga'`));
  assert.ok(actions >= 1, `al.status_history records olga's reattempt with console:olga as the actor; got ${actions} rows`);
});

step('g. viewer victor: buttons disabled, POSTs refused (403) without changing the job; CSRF enforced', async ({ browser }) => {
  const olga = pages.olga;
  const job = state.job_f = submit_job('no-such-template', [{ name: 'x' }], 'browser test');
  await wait_for_sql(`job ${job} (unknown template) fails at receive`, `SELECT jobstatus FROM al.jobs WHERE job_id = ${job}`, '141', STEP_MS);
  const snapshot = () => sql(`SELECT jobstatus || '|' || attempt || '|' || coalesce(error, '') || '|' || status_changed_at ` +
                             `FROM al.jobs WHERE job_id = ${job}`);
  const before = snapshot();

  // What an operator sees on the same page, so the viewer's disabled buttons mean something.
  await olga.goto(`${BASE}/jobs/${job}`);
  await olga.getByRole('heading', { level: 1, name: `Job ${job}`, exact: true }).waitFor();
  for (const name of ['Reattempt failed', 'Cancel job']) {
    const button = olga.getByRole('button', { name, exact: true });
    await eventually(`"${name}" is enabled for olga on job ${job}`, STEP_MS, async () => ({ ok: await button.isEnabled(), got: 'disabled' }));
  }

  const victor = await new_page(browser, 'victor');
  await sign_in(victor, 'victor', VICTOR_PASSWORD);
  await victor.goto(`${BASE}/jobs/${job}`);
  await victor.getByRole('heading', { level: 1, name: `Job ${job}`, exact: true }).waitFor();
  await eventually(`job ${job}'s state "failed" is on victor's page`, STEP_MS, async () => {
    const text = await main_text(victor);
    return { ok: /\bfailed\b/.test(text), got: JSON.stringify(text.slice(0, 300)) };
  });
  for (const name of ['Reattempt failed', 'Skip erroneous', 'Cancel job']) {
    const button = victor.getByRole('button', { name, exact: true });
    await button.waitFor({ state: 'attached' })
      .catch(() => { throw new Error(`victor's job page has no button "${name}" (a viewer should see it disabled)`); });
    assert.equal(await button.isDisabled(), true, `"${name}" is disabled for the viewer victor`);
  }

  const viewer_post = await victor.evaluate(async (id) => {
    const session = await (await fetch('/api/session')).json();
    const res = await fetch(`/api/jobs/${id}/cancel`, { method: 'POST', headers: { 'X-CSRF-Token': session.csrf } });
    return { session, status: res.status, body: await res.text() };
  }, job);
  assert.equal(viewer_post.session.role, 'viewer', 'GET /api/session for victor');
  assert.equal(viewer_post.status, 403, `victor's POST /api/jobs/${job}/cancel with his CSRF token: ${viewer_post.body}`);
  assert.ok(JSON.parse(viewer_post.body).error, 'the 403 carries {"error": …}');

  const no_token = await in_page_fetch(olga, `/api/jobs/${job}/cancel`, { method: 'POST' });
  assert.equal(no_token.status, 403, `olga's POST without X-CSRF-Token: ${no_token.text}`);
  const wrong_token = await in_page_fetch(olga, `/api/jobs/${job}/cancel`, { method: 'POST', headers: { 'X-CSRF-Token': 'not-the-token' } });
  assert.equal(wrong_token.status, 403, `olga's POST with another X-CSRF-Token: ${wrong_token.text}`);

  assert.equal(snapshot(), before, `job ${job} is unchanged in the database (jobstatus|attempt|error|status_changed_at)`);
  assert.equal(sql(`SELECT count(*) FROM al.status_history WHERE object = 'JOBS' AND id = ${job} ` +
                   `AND changed_by IN ('console:victor', 'console:olga')`),
               '0', 'no action on record for the refused POSTs');

  await victor.getByRole('button', { name: 'Sign out', exact: true }).click();
  await wait_for_path(victor, '/signin');
  assert.equal((await in_page_fetch(victor, '/api/session')).status, 401, 'after Sign out, GET /api/session answers 401');
  await victor.context().close();
  delete pages.victor;
});

step('h+i. accessibility (axe: no serious or critical violations) and screenshots', async () => {
  const page = pages.olga;
  const problems = [];

  await page.goto(`${BASE}/jobs`);
  const jobs = page.getByRole('table', { name: 'Serial jobs', exact: true });
  for (const id of [state.job_a, state.job_r, state.job_f]) await jobs.getByRole('link', { name: `#${id}`, exact: true }).waitFor();
  await eventually('no job on /jobs is still moving', STEP_MS, async () => {
    const text = await jobs.innerText();
    return { ok: !/in progress|pending|waiting/.test(text), got: JSON.stringify(text.slice(0, 300)) };
  });
  problems.push(...await run_axe(page, '/jobs'));
  const jobs_png = await screenshot(page, 'console-jobs.png');

  await page.goto(`${BASE}/jobs/${state.job_r}`);
  await eventually('the items of the reattempted job are listed', STEP_MS, async () => {
    const states = await item_states(page);
    return { ok: states.length === 4, got: JSON.stringify(states) };
  });
  problems.push(...await run_axe(page, `/jobs/${state.job_r}`));

  await page.goto(`${BASE}/processes?from=${state.day}&to=${state.day}&sort=destination&dir=asc`);
  await page.getByRole('button', { name: `Details for process ${state.process}`, exact: true }).click();
  await page.getByRole('region', { name: `Process ${state.process} details`, exact: true }).waitFor();
  problems.push(...await run_axe(page, '/processes (details open)'));
  const processes_png = await screenshot(page, 'console-processes.png');

  await page.goto(`${BASE}/board`);
  const board = page.getByRole('table', { name: 'Status board', exact: true });
  await eventually('the status board lists codes', STEP_MS, async () => {
    const n = await board.locator('tbody tr').count();
    return { ok: n > 0, got: `${n} rows` };
  });
  problems.push(...await run_axe(page, '/board'));

  console.log(`  screenshots: ${jobs_png}, ${processes_png}${UPDATE_DIR ? ` (copied to ${UPDATE_DIR})` : ''}`);
  if (problems.length) throw new Error(`axe found serious or critical violations:\n    ${problems.join('\n    ')}`);
});

// ---------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 30_000 });
  const watchdog = setTimeout(() => {
    console.error(`console.spec: still running after ${WHOLE_MS / 1000} s; giving up`);
    browser.close().finally(() => process.exit(1));
  }, WHOLE_MS);
  let failed = null;
  try {
    for (const { name, body } of steps) {
      const t0 = Date.now();
      try {
        await body({ browser });
      } catch (error) {
        failed = { name, error };
        break;
      }
      console.log(`ok    ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    if (failed) {
      console.log(`FAIL  ${failed.name}\n  ${String(failed.error?.message ?? failed.error).replace(/\n/g, '\n  ')}`);
      for (const [name, page] of Object.entries(pages)) {
        try {
          const file = path.join(SCREENSHOT_DIR, `failure-${name}.png`);
          await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
          const text = await page.locator('body').innerText({ timeout: 2000 });
          console.log(`  ${name}'s page: ${page.url()} (screenshot ${file})\n    ${text.slice(0, 1500).replace(/\n/g, '\n    ')}`);
        } catch (e) {
          console.log(`  ${name}'s page: ${page.url()} (no screenshot: ${e.message.split('\n')[0]})`);
        }
      }
    }
  } finally {
    clearTimeout(watchdog);
    await browser.close();
  }
  if (page_errors.length) console.log(`uncaught errors in the pages:\n  ${page_errors.join('\n  ')}`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(failed ? `FAILED at "${failed.name}" after ${seconds} s (the steps after it did not run)`
                     : `passed: ${steps.length} steps in ${seconds} s`);
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (error) => {
  console.error(`console.spec: ${error.stack || error}`);
  process.exit(1);
});
