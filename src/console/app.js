// The console's entry point: sign-in, the page menu and the hash router.
// Pages live in their own modules and render into a fresh section, so a
// slow answer for a page already left lands in a detached node.

import { h, field } from './dom.js';
import { api, ApiError, session, SIGN_IN_PROBE } from './api.js';
import * as endpoints from './endpoints.js';
import * as events from './events.js';
import * as event from './event.js';
import * as deliveries from './deliveries.js';
import * as replays from './replays.js';
import * as partners from './partners.js';

const routes = [
  [/^\/endpoints$/, endpoints.render],
  [/^\/events$/, events.render],
  [/^\/events\/([^/]+)$/, event.render],
  [/^\/deliveries$/, deliveries.render],
  [/^\/replays$/, replays.render],
  [/^\/partners$/, partners.render],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOutButton = document.getElementById('sign-out');

function showSignIn(message = '') {
  nav.hidden = true;
  signOutButton.hidden = true;
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'notice error', role: 'alert' }, message);
  const form = h('form', { class: 'card signin' },
    h('h1', {}, 'Sign in'),
    field('Admin token', input, 'From admin.tokens in the configuration, or the admin.token file in the data directory.'),
    h('button', { type: 'submit' }, 'Sign in'),
    error);
  form.addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    session.signIn(input.value.trim());
    try {
      await api('GET', SIGN_IN_PROBE);
      route();
    } catch (failure) {
      session.signOut();
      error.textContent = failure instanceof ApiError && failure.status === 401
        ? 'Invalid token: check it and try again.'
        : `Cannot reach the daemon: ${failure.message}`;
      input.focus();
    }
  });
  main.replaceChildren(form);
  input.focus();
}

function route() {
  if (!session.token()) {
    showSignIn();
    return;
  }
  nav.hidden = false;
  signOutButton.hidden = false;
  const [path, search] = (location.hash.slice(1) || '/endpoints').split('?');
  for (const [pattern, render] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    for (const link of nav.querySelectorAll('a')) {
      const current = path.startsWith(link.getAttribute('href').slice(1));
      if (current) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const page = h('section', { class: 'page' });
    main.replaceChildren(page);
    render(page, match.slice(1).map(decodeURIComponent), new URLSearchParams(search || ''))
      .catch((failure) => page.append(h('p', { class: 'notice error', role: 'alert' }, failure.message)));
    return;
  }
  location.hash = '#/endpoints';
}

signOutButton.addEventListener('click', () => {
  session.signOut();
  history.replaceState(null, '', location.pathname);
  showSignIn();
});
window.addEventListener('hookd:unauthorized', () => {
  session.signOut();
  showSignIn('Invalid token: sign in again.');
});
window.addEventListener('hashchange', route);
route();
