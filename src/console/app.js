// The console's entry point: sign-in, the page menu and the hash router.
// Pages live in their own modules and render into a fresh section, so a
// slow answer for a page already left lands in a detached node. In an
// account's portal the sign-in is the portal link's token, and the
// operator-only pages are not offered.

import { h, field } from './dom.js';
import { api, ApiError, session, SIGN_IN_PROBE, portal } from './api.js';
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
  [/^\/partners$/, partners.render, 'operator'],
].filter(([, , audience]) => !portal || audience !== 'operator');

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOutButton = document.getElementById('sign-out');

function showSignIn(message = '') {
  nav.hidden = true;
  signOutButton.hidden = true;
  if (portal) {
    showPortalLinkNeeded(message);
    return;
  }
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

/** The portal has no sign-in form: its token comes only in a portal link. */
function showPortalLinkNeeded(message) {
  main.replaceChildren(h('div', { class: 'card signin' },
    h('h1', {}, 'Portal link needed'),
    h('p', { class: `notice${message ? ' error' : ''}`, role: 'alert' },
      message || 'Open this page with the portal link you were given.')));
}

/**
 * Keeps a portal link's `#token=…` in sessionStorage and takes it out of the
 * address, so it is not left in the history or shown on screen.
 */
function takeTokenFromLink() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!token) return;
  session.signIn(token);
  history.replaceState(null, '', `${location.pathname}${location.search}#/endpoints`);
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
  showSignIn(portal
    ? 'This link has expired or is invalid: ask for a new one.'
    : 'Invalid token: sign in again.');
});
window.addEventListener('hashchange', () => {
  // Another portal link opened in the same tab changes only the fragment.
  if (portal) takeTokenFromLink();
  route();
});
if (portal) {
  document.title = 'Webhooks portal';
  document.querySelector('.brand').textContent = 'Webhooks';
  for (const operatorOnly of document.querySelectorAll('[data-operator]')) operatorOnly.remove();
  takeTokenFromLink();
}
route();
