// "Event log": search by time range and type, page through the results,
// tick events and resend them as a replay job whose progress is shown.
// The search lives in the address (#/events?from=…), so Back from an
// event's detail returns to the same results.

import { h, field, checkbox, table, notice, time, utc, words, endpointSelect, pause } from './dom.js';
import { api, query, allEndpoints } from './api.js';

const COLUMNS = ['Select', 'Event ID', 'Type', 'Time'];

export async function render(page, _params, search) {
  const from = h('input', { type: 'text', value: search.get('from') || '', placeholder: '2024-01-15 10:00' });
  const to = h('input', { type: 'text', value: search.get('to') || '', placeholder: '2024-01-15 11:00' });
  const type = h('input', { type: 'text', value: search.get('type') || '', placeholder: 'user.created or user.*' });
  const status = notice();
  const form = h('form', { class: 'grid', role: 'search' },
    field('From', from, 'UTC'), field('To', to, 'UTC'), field('Event type', type, 'Exact, or a category such as user.*'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Search')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    try {
      location.hash = `#/events${query({ from: utc(from.value, 'From'), to: utc(to.value, 'To'), type: type.value.trim() })}`;
    } catch (error) {
      status.fail(error);
    }
  });
  const results = h('div', {});
  page.append(h('h1', {}, 'Event log'), form, status, results);

  const params = { from: search.get('from'), to: search.get('to'), type: words(search.get('type') || ''), cursor: search.get('cursor'), limit: 50 };
  const [events, endpoints] = await Promise.all([api('GET', `/events${query(params)}`), allEndpoints()]);
  if (!events.data.length) {
    results.append(h('p', { class: 'empty' }, 'No events match.'));
    return;
  }
  const boxes = [];
  const rows = events.data.map((event) => {
    const box = checkbox(`Select ${event.id}`, { value: event.id });
    boxes.push(box.querySelector('input'));
    return [
      box,
      h('a', { href: `#/events/${encodeURIComponent(event.id)}`, class: 'mono' }, event.id),
      [event.type, event.test ? h('span', { class: 'badge' }, 'test') : null],
      time(event.created_at),
    ];
  });
  const endpoint = endpointSelect(endpoints, 'Every subscribed endpoint');
  const progress = notice();
  const resend = h('div', { class: 'grid resend' },
    field('Endpoint', endpoint),
    h('div', { class: 'buttons' }, h('button', {
      type: 'button',
      onclick: () => resendSelected(boxes.filter((b) => b.checked).map((b) => b.value), endpoint.value, progress),
    }, 'Resend selected')),
    progress);
  const paging = h('div', { class: 'buttons' },
    params.cursor ? h('a', { href: `#/events${query({ ...params, type: search.get('type'), limit: null, cursor: null })}` }, 'First page') : null,
    events.next_cursor ? h('a', { href: `#/events${query({ ...params, type: search.get('type'), limit: null, cursor: events.next_cursor })}` }, 'Next page') : null);
  results.append(table(COLUMNS, rows, 'Events'), paging, resend);
}

async function resendSelected(eventIds, endpointId, progress) {
  if (!eventIds.length) {
    progress.show('Select at least one event to resend.', 'error');
    return;
  }
  try {
    let job = await api('POST', '/replay', { event_ids: eventIds, endpoint_ids: endpointId ? [endpointId] : undefined });
    for (;;) {
      progress.show(`Replay ${job.id} ${job.status}: ${job.events_matched} events matched, `
        + `${job.deliveries_scheduled} deliveries scheduled, ${job.skipped} skipped${job.error ? ` (${job.error})` : ''}`,
      job.status === 'failed' ? 'error' : 'ok');
      if (job.status !== 'running' || !progress.isConnected) return;
      await pause(500);
      job = await api('GET', `/replay/${job.id}`);
    }
  } catch (error) {
    progress.fail(error);
  }
}
