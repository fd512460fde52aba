// "Partners": the groups that registered themselves, with "Suspend" (their
// endpoint is held and their secret refused) and "Activate".

import { h, table, notice, time } from './dom.js';
import { api, everything } from './api.js';

const COLUMNS = ['Name', 'Partner ID', 'Status', 'Webhook URL', 'Events', 'Registered', 'Actions'];

export async function render(page) {
  const status = notice();
  const list = h('div', {});
  page.append(h('h1', {}, 'Partners'), status, list);
  await load(list, status);
}

async function load(list, status) {
  const partners = await everything('/partners');
  const rows = partners.map((partner) => {
    const next = partner.status === 'active' ? 'suspended' : 'active';
    return [
      partner.partner_name,
      h('span', { class: 'mono' }, partner.partner_id),
      h('span', { class: `badge ${partner.status}` }, partner.status),
      h('span', { class: 'url' }, partner.webhook_url),
      partner.events_subscribed.join(', '),
      time(partner.created_at),
      h('button', {
        type: 'button',
        onclick: async () => {
          try {
            await api('PATCH', `/partners/${partner.partner_id}`, { status: next });
            status.show(`${partner.partner_name} is ${next}.`);
            await load(list, status);
          } catch (error) {
            status.fail(error);
          }
        },
      }, next === 'suspended' ? 'Suspend' : 'Activate'),
    ];
  });
  list.replaceChildren(rows.length ? table(COLUMNS, rows, 'Partners') : h('p', { class: 'empty' }, 'No partner has registered.'));
}
