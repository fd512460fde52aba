// "Replays": the jobs, newest first, with their counts (refreshed while one
// runs), and the "New replay" form for a time range.

import { h, field, table, notice, time, utc, words, endpointSelect, pause } from './dom.js';
import { api, optional, allEndpoints } from './api.js';

const COLUMNS = ['Replay', 'Status', 'Events matched', 'Deliveries scheduled', 'Skipped', 'Created', 'Finished'];

export async function render(page) {
  const endpoints = await allEndpoints();
  const status = notice();
  const list = h('div', {});
  page.append(h('h1', {}, 'Replays'), newReplayForm(endpoints, status, () => refresh(list)), status, list);
  await refresh(list);
}

/** Draws the jobs, and keeps polling while one runs and the page is shown. */
async function refresh(list) {
  for (;;) {
    const jobs = await optional('/replay?limit=100');
    if (!jobs) {
      list.replaceChildren(h('p', { class: 'empty' }, 'no data: this daemon cannot list replay jobs.'));
      return;
    }
    const rows = jobs.data.map((job) => [
      h('span', { class: 'mono' }, job.id),
      [h('span', { class: `badge ${job.status}` }, job.status), job.error ? ` ${job.error}` : ''],
      String(job.events_matched), String(job.deliveries_scheduled), String(job.skipped),
      time(job.created_at), time(job.finished_at),
    ]);
    list.replaceChildren(rows.length ? table(COLUMNS, rows, 'Replay jobs') : h('p', { class: 'empty' }, 'No replay yet.'));
    if (!jobs.data.some((job) => job.status === 'running')) return;
    await pause(1000);
    if (!list.isConnected) return;
  }
}

function newReplayForm(endpoints, status, refreshList) {
  const from = h('input', { type: 'text', required: true, placeholder: '2024-01-15 10:00' });
  const to = h('input', { type: 'text', required: true, placeholder: '2024-01-15 11:00' });
  const type = h('input', { type: 'text', placeholder: 'user.created or user.*' });
  const endpoint = endpointSelect(endpoints, 'Every subscribed endpoint');
  const onlyFailed = h('input', { type: 'checkbox' });
  const form = h('form', { class: 'grid' },
    field('From', from, 'UTC'), field('To', to, 'UTC, exclusive'), field('Event type', type, 'Empty for every type'),
    field('Endpoint', endpoint), field('Only failed', onlyFailed, 'Only events whose delivery failed'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Start replay')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const types = words(type.value);
      const job = await api('POST', '/replay', {
        from: utc(from.value, 'From'),
        to: utc(to.value, 'To'),
        types: types.length ? types : undefined,
        endpoint_ids: endpoint.value ? [endpoint.value] : undefined,
        only_failed: onlyFailed.checked,
      });
      status.show(`Replay ${job.id} started: ${job.events_matched} events matched so far.`);
      await refreshList();
    } catch (error) {
      status.fail(error);
    }
  });
  return h('details', { class: 'card' }, h('summary', {}, 'New replay'), form);
}
