// /signin?next=…: the only page that works without a session.
import { api, setSession } from './api.js';
import { h, showAlert, clearMessages } from './dom.js';
import { navigate, params } from './url.js';

export function signinView(root, { onSignedIn }) {
  const user = h('input', { id: 'signin-user', name: 'user', autocomplete: 'username', required: true });
  const password = h('input', {
    id: 'signin-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'signin', onsubmit: submit },
    h('div', { class: 'field' }, h('label', { for: 'signin-user' }, 'User'), user),
    h('div', { class: 'field' }, h('label', { for: 'signin-password' }, 'Password'), password),
    button);
  root.append(h('h1', {}, 'Sign in'), form);

  async function submit(event) {
    event.preventDefault();
    button.disabled = true;
    try {
      setSession(await api('/api/session', { method: 'POST', body: { user: user.value, password: password.value } }));
      clearMessages();
      onSignedIn();
      navigate(safeNext(params().get('next')), { replace: true });
    } catch (error) {
      showAlert(error.message);
      password.select();
    } finally {
      button.disabled = false;
    }
  }
  return { title: 'Sign in', load: async () => {} };
}

/// Only a path of this site: ?next= comes from a link anyone can send.
function safeNext(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/jobs';
  if (next.startsWith('/signin') || next.startsWith('/api/')) return '/jobs';
  return next;
}
