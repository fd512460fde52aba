// Event detail: the payload as formatted JSON, then each delivery with its
// attempts (and the response body when the endpoint is in debug mode), and
// "Retry" on a failed one.

import { h, table, notice, time } from './dom.js';
import { api, allEndpoints } from './api.js';
import { retryButton } from './deliveries.js';

const ATTEMPT_COLUMNS = ['Attempt', 'Time', 'Status code', 'Duration', 'Error', 'Response body'];

export async function render(page, [id]) {
  const [event, endpoints] = await Promise.all([api('GET', `/events/${encodeURIComponent(id)}`), allEndpoints()]);
  const urls = new Map(endpoints.map((e) => [e.id, e.url]));
  const { deliveries, ...payload } = event;
  const status = notice();
  const list = h('div', {});
  page.append(
    h('p', {}, h('a', { href: '#/events' }, 'Event log'), ' / event'),
    h('h1', {}, 'Event ', h('span', { class: 'mono' }, event.id)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Type'), h('dd', {}, event.type),
      h('dt', {}, 'Time'), h('dd', {}, time(event.created_at)),
      event.test ? [h('dt', {}, 'Test'), h('dd', {}, 'yes')] : null),
    h('h2', {}, 'Payload'),
    h('pre', { class: 'payload', tabindex: 0 }, JSON.stringify(payload, null, 2)),
    h('h2', {}, 'Deliveries'),
    status,
    list);
  const show = async () => {
    const full = await Promise.all(deliveries.map((d) => api('GET', `/deliveries/${d.id}`)));
    list.replaceChildren(...(full.length
      ? full.map((delivery) => deliveryCard(delivery, urls, status, () => show().catch((e) => status.fail(e))))
      : [h('p', { class: 'empty' }, 'No endpoint was subscribed to this event.')]));
  };
  await show();
}

function deliveryCard(delivery, urls, status, reload) {
  const rows = delivery.attempts.map((a) => [
    String(a.attempt), time(a.at), a.status_code == null ? '—' : String(a.status_code),
    `${a.duration_ms} ms`, a.error || '', a.response_body == null ? '' : h('pre', { class: 'body' }, a.response_body),
  ]);
  const retry = retryButton(delivery, status, reload);
  return h('article', { class: 'card delivery' },
    h('h3', {}, h('span', { class: 'url' }, urls.get(delivery.endpoint_id) || delivery.endpoint_id)),
    h('p', {}, h('span', { class: `badge ${delivery.status}` }, delivery.status),
      ` ${delivery.attempt_count} attempt${delivery.attempt_count === 1 ? '' : 's'}`,
      delivery.next_attempt_at ? `, next at ${time(delivery.next_attempt_at)}` : '',
      ' · ', h('span', { class: 'mono' }, delivery.id), ' ', retry),
    rows.length ? table(ATTEMPT_COLUMNS, rows, `Attempts of ${delivery.id}`) : h('p', { class: 'empty' }, 'No attempt yet.'));
}
