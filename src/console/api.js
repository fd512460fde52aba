// The API as the pages call it: the token from sessionStorage as a bearer
// header (never a cookie), JSON in and out, errors as exceptions that carry
// the API's own message. Under /portal/ the pages are one account's portal
// and call the portal's API with a portal link's token; elsewhere they are
// the operator's console calling the admin API with an admin token.

/** Whether this page is an account's portal rather than the operator's console. */
export const portal = location.pathname.startsWith('/portal/');

const API_BASE = portal ? '/portal/api/v1' : '/api/v1';
const TOKEN_KEY = portal ? 'hookd.portal-token' : 'hookd.admin-token';

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the daemon answered HTTP ${status}`);
    this.status = status;
  }
}

export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.token() || ''}` };
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${API_BASE}${path}`, init);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.status === 401 && path !== SIGN_IN_PROBE) {
    window.dispatchEvent(new Event('hookd:unauthorized'));
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** The call sign-in makes to check a token. */
export const SIGN_IN_PROBE = '/webhooks?limit=1';

/** A route this daemon may not have yet: `null` when it answers 404. */
export async function optional(path) {
  try {
    return await api('GET', path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** `?a=1&b=x&b=y`, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of [value].flat()) {
      if (item !== undefined && item !== null && item !== '') search.append(name, item);
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Every item of a paginated list route, following its cursors. */
export async function everything(path) {
  const items = [];
  let cursor = '';
  do {
    const page = await api('GET', `${path}${query({ limit: 1000, cursor })}`);
    items.push(...page.data);
    cursor = page.next_cursor || '';
  } while (cursor);
  return items;
}

/** Every endpoint, for pickers and URL lookups. */
export function allEndpoints() {
  return everything('/webhooks');
}
