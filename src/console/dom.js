// Small DOM helpers. Every string goes into the page as a text node or an
// attribute value, never parsed as HTML, so event data and URLs can hold
// any markup and it is shown, not run.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

let nextId = 0;

/** A control with its visible `<label>`, and an optional hint under it. */
export function field(label, control, hint) {
  if (!control.id) control.id = `field-${++nextId}`;
  const hintNode = hint ? h('small', { id: `${control.id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute('aria-describedby', hintNode.id);
  const kind = control.type === 'checkbox' ? 'field check' : 'field';
  return h('div', { class: kind }, h('label', { for: control.id }, label), control, hintNode);
}

/** A checkbox whose label is read by assistive technology but not shown. */
export function checkbox(label, attributes = {}) {
  const box = h('input', { type: 'checkbox', id: `field-${++nextId}`, ...attributes });
  return h('span', { class: 'row-check' }, box, h('label', { for: box.id, class: 'visually-hidden' }, label));
}

export function select(options, attributes = {}) {
  return h('select', attributes, options.map(([value, text]) => h('option', { value }, text)));
}

/**
 * A table; each cell carries its column name so narrow screens can show
 * rows as labelled cards (see style.css).
 */
export function table(columns, rows, caption) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((row) => row instanceof Node ? row : tableRow(columns, row)))));
}

export function tableRow(columns, cells) {
  return h('tr', {}, cells.map((cell, i) => h('td', { 'data-label': columns[i] }, cell)));
}

/** A live line for the outcome of an action. */
export function notice() {
  const line = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  line.show = (text, kind = 'ok') => {
    line.className = `notice ${kind}`;
    line.textContent = text;
  };
  line.fail = (error) => line.show(error.message || String(error), 'error');
  return line;
}

/** `2024-01-15T10:30:00Z` shown as `2024-01-15 10:30:00 UTC`. */
export function time(iso) {
  return iso ? `${iso.replace('T', ' ').replace('Z', '')} UTC` : '—';
}

/**
 * What a person types in a From or To field, as the API's RFC 3339 UTC:
 * `2024-01-15`, `2024-01-15 10:30`, `2024-01-15T10:30:00Z` all work.
 * Returns '' for an empty field and throws on anything else.
 */
export function utc(text, name) {
  const value = text.trim().replace(' ', 'T').replace(/Z$/i, '');
  if (!value) return '';
  const match = value.match(/^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(:\d{2})?)?$/);
  if (!match) throw new Error(`${name} must be a UTC time such as 2024-01-15 10:30`);
  return `${match[1]}T${match[2] || '00:00'}${match[3] || ':00'}Z`;
}

/** Comma- or space-separated words, trimmed, empties dropped. */
export function words(text) {
  return text.split(/[\s,]+/).map((w) => w.trim()).filter(Boolean);
}

/** A picker of endpoints by URL, with a first choice meaning "any". */
export function endpointSelect(endpoints, anyText) {
  return select([['', anyText], ...endpoints.map((e) => [e.id, e.url])]);
}

export function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
