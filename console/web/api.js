// Talks to the JSON API of docs/console.md: one fetch wrapper that adds the
// CSRF token to POSTs, turns {"error"} answers into ApiError, and sends a
// 401 to the sign-in page.

export const session = { user: null, role: null, csrf: null };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (error) {
    throw new ApiError(0, `The console does not answer (${error.message}); is al-console running?`);
  }
  let data = null;
  if (response.status !== 204) data = await response.json().catch(() => null);
  if (response.ok) return data;
  const message = data?.error || `${method} ${path}: HTTP ${response.status}`;
  // The session routes answer 401 as part of signing in; elsewhere it means the session ended.
  if (response.status === 401 && !path.startsWith('/api/session')) onUnauthorized();
  throw new ApiError(response.status, message);
}

export function setSession(data) {
  Object.assign(session, data ?? { user: null, role: null, csrf: null });
}
