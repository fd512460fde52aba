// "Deliveries": filter by status, endpoint and type; "Retry" a failed one.
// Uses the deliveries search; where the daemon lacks it, one endpoint's
// deliveries still come from that endpoint's own list.

import { h, field, select, table, notice, time, endpointSelect } from './dom.js';
import { api, optional, query, allEndpoints } from './api.js';

const COLUMNS = ['Delivery', 'Event', 'Type', 'Endpoint', 'Status', 'Attempts', 'Updated', ''];
const STATUSES = [['', 'Any'], ['failed', 'failed'], ['pending', 'pending'], ['held', 'held'], ['succeeded', 'succeeded'], ['cancelled', 'cancelled']];

/** "Retry" for a failed delivery; `done` runs after it was accepted. */
export function retryButton(delivery, status, done) {
  if (delivery.status !== 'failed') return null;
  return h('button', {
    type: 'button',
    onclick: async () => {
      try {
        await api('POST', `/deliveries/${delivery.id}/retry`);
        status.show(`Delivery ${delivery.id} is pending again.`);
        await done();
      } catch (error) {
        status.fail(error);
      }
    },
  }, 'Retry');
}

export async function render(page, _params, search) {
  const endpoints = await allEndpoints();
  const urls = new Map(endpoints.map((e) => [e.id, e.url]));
  const statusField = select(STATUSES);
  const endpoint = endpointSelect(endpoints, 'Any endpoint');
  const type = h('input', { type: 'text', placeholder: 'user.created' });
  statusField.value = search.get('status') || '';
  endpoint.value = search.get('endpoint_id') || '';
  type.value = search.get('event_type') || '';
  const form = h('form', { class: 'grid', role: 'search' },
    field('Status', statusField), field('Endpoint', endpoint), field('Event type', type),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Search')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/deliveries${query({ status: statusField.value, endpoint_id: endpoint.value, event_type: type.value.trim() })}`;
  });
  const status = notice();
  const results = h('div', {});
  page.append(h('h1', {}, 'Deliveries'), form, status, results);

  const show = async () => {
    const found = await searchDeliveries(search);
    if (!found) {
      results.replaceChildren(h('p', { class: 'empty' }, 'no data: this daemon has no deliveries search; choose an endpoint.'));
      return;
    }
    const reload = () => show().catch((e) => status.fail(e));
    const rows = found.data.map((d) => [
      h('span', { class: 'mono' }, d.id),
      h('a', { href: `#/events/${encodeURIComponent(d.event_id)}`, class: 'mono' }, d.event_id),
      d.event_type || '',
      h('span', { class: 'url' }, urls.get(d.endpoint_id) || d.endpoint_id),
      h('span', { class: `badge ${d.status}` }, d.status),
      String(d.attempts),
      time(d.updated_at),
      retryButton(d, status, reload),
    ]);
    const next = found.next_cursor
      ? h('a', { href: `#/deliveries${query({ ...filtersOf(search), cursor: found.next_cursor })}` }, 'Next page')
      : null;
    results.replaceChildren(rows.length ? table(COLUMNS, rows, 'Deliveries') : h('p', { class: 'empty' }, 'No deliveries match.'),
      h('div', { class: 'buttons' }, search.get('cursor') ? h('a', { href: `#/deliveries${query(filtersOf(search))}` }, 'First page') : null, next));
  };
  await show();
}

function filtersOf(search) {
  return { status: search.get('status'), endpoint_id: search.get('endpoint_id'), event_type: search.get('event_type') };
}

/** One page from the search route, or from the endpoint's list without it. */
async function searchDeliveries(search) {
  const filters = filtersOf(search);
  const cursor = search.get('cursor');
  const found = await optional(`/deliveries${query({ ...filters, cursor, limit: 100 })}`);
  if (found || !filters.endpoint_id) return found;
  return api('GET', `/webhooks/${encodeURIComponent(filters.endpoint_id)}/deliveries${query({ status: filters.status, cursor, limit: 100 })}`);
}
