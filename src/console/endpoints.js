// "Endpoints": the subscriptions with their last hour of health, the row
// actions (edit, disable or enable, rotate secret, send a test event,
// delete) and the "New endpoint" form. An account's portal has no stats
// route, so there the health columns are left out.

import { h, field, select, table, tableRow, notice, time, words, pause } from './dom.js';
import { api, optional, allEndpoints, portal } from './api.js';
import { perMinuteChart } from './chart.js';

const HEALTH_COLUMNS = ['Success rate (1h)', 'p99 (1h)', 'Per minute (1h)', 'Last failure'];
const COLUMNS = ['URL', 'Events', 'Status', ...(portal ? [] : HEALTH_COLUMNS), 'Actions'];

export async function render(page) {
  const status = notice();
  const list = h('div', {});
  const reload = () => load(list, status);
  page.append(h('h1', {}, 'Endpoints'), status, newEndpointForm(status, reload), list);
  await reload();
}

async function load(list, status) {
  const [endpoints, stats] = await Promise.all([allEndpoints(), portal ? null : optional('/stats?window=1h')]);
  const byEndpoint = new Map((stats ? stats.endpoints : []).map((s) => [s.endpoint_id, s]));
  const reload = () => load(list, status).catch((e) => status.fail(e));
  const rows = endpoints.flatMap((endpoint) => endpointRows(endpoint, stats && (byEndpoint.get(endpoint.id) || {}), status, reload));
  list.replaceChildren(endpoints.length
    ? table(COLUMNS, rows, 'Endpoints')
    : h('p', { class: 'empty' }, 'No endpoints yet: add one with "New endpoint".'));
}

function statusText(endpoint) {
  if (endpoint.active) return 'active';
  return `disabled (${endpoint.disabled_reason || 'manual'})`;
}

/** The health cells; `stats` is null when the daemon has no stats route. */
function healthCells(stats) {
  if (!stats) return ['no data', 'no data', 'no data', 'no data'];
  const rate = typeof stats.success_rate === 'number' ? `${(stats.success_rate * 100).toFixed(1)}%` : '—';
  const p99 = typeof stats.p99_ms === 'number' ? `${stats.p99_ms} ms` : '—';
  const caption = `${stats.attempts || 0} attempts, ${stats.failures || 0} failures in the last hour`;
  return [rate, p99, perMinuteChart(stats.per_minute, caption), time(stats.last_failure_at)];
}

function endpointRows(endpoint, stats, status, reload) {
  const panel = h('td', { colspan: COLUMNS.length, class: 'panel' });
  const panelRow = h('tr', { class: 'panel-row', hidden: true }, panel);
  const open = (...content) => {
    panel.replaceChildren(...content);
    panelRow.hidden = false;
  };
  const close = () => {
    panelRow.hidden = true;
    panel.replaceChildren();
  };
  const act = (work) => async () => {
    try {
      await work();
    } catch (error) {
      status.fail(error);
    }
  };
  const actions = h('div', { class: 'actions' },
    h('button', { type: 'button', onclick: () => open(editForm(endpoint, status, close, reload)) }, 'Edit'),
    h('button', {
      type: 'button',
      onclick: act(async () => {
        await api('PATCH', `/webhooks/${endpoint.id}`, { active: !endpoint.active });
        status.show(`${endpoint.active ? 'Disabled' : 'Enabled'} ${endpoint.url}`);
        await reload();
      }),
    }, endpoint.active ? 'Disable' : 'Enable'),
    h('button', {
      type: 'button',
      onclick: act(async () => {
        const rotated = await api('POST', `/webhooks/${endpoint.id}/secret/rotate`, {});
        open(h('p', {}, 'New signing secret (note it now): ', h('code', {}, rotated.secret),
          rotated.previous_secret_expires_at ? ` The previous one keeps signing until ${time(rotated.previous_secret_expires_at)}.` : ''));
      }),
    }, 'Rotate secret'),
    h('button', { type: 'button', onclick: act(() => testPanel(endpoint, open)) }, 'Send test event'),
    h('button', { type: 'button', class: 'danger', onclick: () => open(deleteConfirmation(endpoint, status, close, reload)) }, 'Delete'));
  const row = tableRow(COLUMNS, [
    h('span', { class: 'url' }, endpoint.url),
    endpoint.events.join(', '),
    statusText(endpoint),
    ...(portal ? [] : healthCells(stats)),
    actions,
  ]);
  return [row, panelRow];
}

function firstExactType(endpoint) {
  return endpoint.events.find((type) => type !== '*' && !type.endsWith('.*')) || '';
}

/** Sends one exact type at once when the endpoint has one; the field sends others. */
function testPanel(endpoint, open) {
  const type = h('input', { type: 'text', value: firstExactType(endpoint), placeholder: 'user.created' });
  const result = notice();
  const send = async () => {
    try {
      const sent = await api('POST', `/webhooks/${endpoint.id}/test`, { event: type.value.trim() });
      await followDelivery(sent, result);
    } catch (error) {
      result.fail(error);
    }
  };
  const form = h('form', { class: 'inline' }, field('Event type', type), h('button', { type: 'submit' }, 'Send'), result);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  open(form);
  if (type.value) return send();
  type.focus();
  return undefined;
}

/** Shows a test delivery's status and response until it settles. */
async function followDelivery(sent, result) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const delivery = await api('GET', `/deliveries/${sent.delivery_id}`);
    const last = delivery.attempts[delivery.attempts.length - 1];
    const answer = last ? `, last attempt: ${last.status_code ?? 'no response'}${last.error ? ` (${last.error})` : ''} in ${last.duration_ms} ms` : '';
    const body = last && last.response_body ? `, response: ${last.response_body}` : '';
    result.show(`Test event ${sent.event_id} sent: delivery ${delivery.status}${answer}${body}`,
      delivery.status === 'failed' ? 'error' : 'ok');
    if (delivery.status !== 'pending' || Date.now() > deadline || !result.isConnected) return;
    await pause(500);
  }
}

function deleteConfirmation(endpoint, status, close, reload) {
  return h('div', { class: 'inline' },
    h('p', {}, 'Delete ', h('span', { class: 'url' }, endpoint.url), '? Its pending deliveries are cancelled.'),
    h('button', {
      type: 'button',
      class: 'danger',
      onclick: async () => {
        try {
          await api('DELETE', `/webhooks/${endpoint.id}`);
          status.show(`Deleted ${endpoint.url}`);
          close();
          await reload();
        } catch (error) {
          status.fail(error);
        }
      },
    }, 'Confirm delete'),
    h('button', { type: 'button', onclick: close }, 'Cancel'));
}

/** The fields both forms share; values of `endpoint` when editing. */
function endpointFields(endpoint = {}) {
  return {
    url: h('input', { type: 'url', required: true, value: endpoint.url, placeholder: 'https://example.com/webhooks' }),
    events: h('input', { type: 'text', required: true, value: (endpoint.events || []).join(', '), placeholder: 'user.created, content.*' }),
    description: h('input', { type: 'text', value: endpoint.description }),
  };
}

function editForm(endpoint, status, close, reload) {
  const fields = endpointFields(endpoint);
  const form = h('form', { class: 'inline' },
    field('URL', fields.url), field('Events', fields.events), field('Description', fields.description),
    h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', onclick: close }, 'Cancel'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('PATCH', `/webhooks/${endpoint.id}`, {
        url: fields.url.value.trim(),
        events: words(fields.events.value),
        description: fields.description.value.trim() || null,
      });
      status.show(`Saved ${fields.url.value.trim()}`);
      close();
      await reload();
    } catch (error) {
      status.fail(error);
    }
  });
  return form;
}

function newEndpointForm(status, reload) {
  const fields = endpointFields();
  const style = select([['sha256-prefixed', 'sha256=<hex> (default)'], ['hex', 'bare hex'], ['canonical-json', 'hex over canonical JSON']]);
  const format = select([['envelope', 'envelope (id, type, created_at, data)'], ['flat', 'flat (data fields at top level)']]);
  const schedule = h('input', { type: 'text', placeholder: '0s, 1m, 5m, 30m, 2h' });
  const result = notice();
  const form = h('form', { class: 'grid' },
    field('URL', fields.url), field('Events', fields.events, 'Exact types, categories such as user.*, or *; comma-separated.'),
    field('Description', fields.description), field('Signature style', style), field('Payload format', format),
    field('Retry schedule', schedule, 'Delays before each attempt; empty for the daemon default.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Create endpoint')), result);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const retry = words(schedule.value);
      const created = await api('POST', '/webhooks', {
        url: fields.url.value.trim(),
        events: words(fields.events.value),
        description: fields.description.value.trim() || undefined,
        signature_style: style.value,
        payload_format: format.value,
        retry_schedule: retry.length ? retry : undefined,
      });
      form.reset();
      result.show('');
      form.parentNode.open = false;
      status.show(`Created ${created.url}. Its signing secret (note it now): ${created.secret}`);
      await reload();
    } catch (error) {
      result.fail(error);
    }
  });
  return h('details', { class: 'card' }, h('summary', {}, 'New endpoint'), form);
}
