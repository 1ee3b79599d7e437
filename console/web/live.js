// Keeps the shown view current: one EventSource on /api/events, refetching
// on "change" at most once a second. The console caps its streams and
// answers 503 past the cap, so when the stream fails the page polls every
// 2 s instead. Nothing runs while the tab is hidden; showing it catches up.

const MIN_GAP_MS = 1000;
const POLL_MS = 2000;

let refresh = null;
let source = null;
let pollTimer = null;
let pendingTimer = null;
let lastRefresh = 0;
let polling = false;

export function startLive(refreshView) {
  refresh = refreshView;
  if (!source && !pollTimer && !document.hidden) connect();
}

export function stopLive() {
  refresh = null;
  disconnect();
}

function connect() {
  if (polling || typeof EventSource === 'undefined') {
    polling = true;
    pollTimer = setInterval(soon, POLL_MS);
    return;
  }
  source = new EventSource('/api/events');
  source.addEventListener('change', soon);
  source.onerror = () => {
    // EventSource would retry on its own, but a 503 means the slots are
    // taken; polling is cheaper for everyone than hammering for a slot.
    disconnect();
    polling = true;
    connect();
  };
}

function disconnect() {
  source?.close();
  source = null;
  clearInterval(pollTimer);
  pollTimer = null;
  clearTimeout(pendingTimer);
  pendingTimer = null;
}

/// Refreshes now, or once the second since the last refresh is over.
function soon() {
  if (pendingTimer) return;
  const wait = Math.max(0, lastRefresh + MIN_GAP_MS - Date.now());
  pendingTimer = setTimeout(() => {
    pendingTimer = null;
    lastRefresh = Date.now();
    refresh?.();
  }, wait);
}

document.addEventListener('visibilitychange', () => {
  if (!refresh) return;
  if (document.hidden) {
    disconnect();
    return;
  }
  polling = false; // a stream slot may be free again by now
  lastRefresh = Date.now();
  refresh();
  connect();
});
