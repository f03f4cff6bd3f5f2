// Small DOM helpers: elements built with textContent (never HTML from data) and escaping
// for the few long lists rendered as one string.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);

export function status(s) {
  const known = ['passing', 'warning', 'critical'].includes(s) ? s : 'warning';
  return h('span', { class: `status ${known}` }, s || 'unknown');
}

export function tags(list) {
  return (list || []).map((t) => h('span', { class: 'tag' }, t));
}

export function meta(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('p', {}, 'None');
  return h('dl', { class: 'meta' }, entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function table(headers, rows, label) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'responsive', 'aria-label': label },
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}

export function page(title, ...children) {
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', {}, title), ...children.flat());
  document.title = `${title} - Proconsul`;
  return main;
}
