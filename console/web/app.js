// al-console's page: checks the session, draws the header, and routes each
// path to its view. A view builds its controls once and exposes load(),
// which refetches data and redraws only tables and details: load() runs on
// every URL change within the view and on every live update.
import { api, session, setSession, setUnauthorizedHandler } from './api.js';
import { clearAlert, clearMessages, showAlert } from './dom.js';
import { jobView } from './job.js';
import { jobsView } from './jobs.js';
import { startLive, stopLive } from './live.js';
import { boardView } from './board.js';
import { processesView } from './processes.js';
import { signinView } from './signin.js';
import { navigate } from './url.js';

const ROUTES = [
  { pattern: /^\/jobs$/, view: jobsView },
  { pattern: /^\/jobs\/(\d+)$/, view: (root, match) => jobView(root, match[1]) },
  { pattern: /^\/processes$/, view: processesView },
  { pattern: /^\/board$/, view: boardView },
  { pattern: /^\/signin$/, view: (root) => signinView(root, { onSignedIn: drawHeader }), public: true },
];

let current = null; // { path, load }

function route({ focus = false } = {}) {
  const path = location.pathname;
  const found = ROUTES.map((r) => ({ r, match: path.match(r.pattern) })).find((x) => x.match);
  if (!found) return navigate('/jobs', { replace: true });
  if (!found.r.public && !session.user) return toSignIn();
  if (current?.path !== path) {
    clearMessages();
    const root = document.getElementById('view');
    root.replaceChildren();
    const view = found.r.view(root, found.match);
    current = { path, load: view.load };
    document.title = `${view.title} — al-console`;
    for (const link of document.querySelectorAll('nav[aria-label="Main"] a')) {
      if (path.startsWith(link.getAttribute('href'))) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (found.r.public) stopLive();
    else startLive(refresh);
    if (focus) document.getElementById('content').focus();
  }
  refresh();
}

async function refresh() {
  const view = current;
  try {
    await view?.load();
    clearAlert('load');
  } catch (error) {
    // A 401 has already sent us to the sign-in page; its message would only confuse there.
    if (error.status !== 401 && current === view) showAlert(error.message, 'load');
  }
}

function toSignIn() {
  navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
}

function drawHeader() {
  document.getElementById('header').hidden = !session.user;
  document.getElementById('who').textContent = session.user ? `${session.user} (${session.role})` : '';
}

async function signOut() {
  try {
    await api('/api/session/end', { method: 'POST' });
  } catch {
    // Signed out either way: the session is gone or about to be abandoned.
  }
  setSession(null);
  drawHeader();
  navigate('/signin');
}

// Links inside the console change the view without reloading the page;
// downloads, the API, other tabs and fragment links keep their default.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href]');
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (link.hasAttribute('download') || link.target || link.getAttribute('href').startsWith('#')) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('al:navigate', () => route({ focus: true }));
window.addEventListener('popstate', () => route({ focus: true }));
document.getElementById('sign-out').addEventListener('click', signOut);
setUnauthorizedHandler(() => {
  setSession(null);
  drawHeader();
  if (location.pathname !== '/signin') toSignIn();
});

try {
  setSession(await api('/api/session'));
} catch (error) {
  if (error.status !== 401) showAlert(error.message, 'load');
}
drawHeader();
route();
