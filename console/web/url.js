// The URL is the only place a page keeps its filters, sort and page, so a
// reload or a shared link shows the same thing. Views change it through
// navigate(); app.js listens for "al:navigate" and re-routes.

export function params() {
  return new URLSearchParams(location.search);
}

/// The current path with `changes` applied to its query; null or "" deletes.
export function withParams(changes, path = location.pathname) {
  const query = params();
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '') query.delete(name);
    else query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export function navigate(url, { replace = false } = {}) {
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event('al:navigate'));
}
