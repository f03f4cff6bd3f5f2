// The app shell: routes Consul's UI URLs (/ui/<dc>/<section>/...) to one view module each,
// the datacenter switcher, the token status, and the error area.
import { get, token } from './api.js';
import { h } from './dom.js';
import * as services from './views/services.js';
import * as nodes from './views/nodes.js';
import * as kv from './views/kv.js';
import * as intentions from './views/intentions.js';
import * as acls from './views/acls.js';
import * as peers from './views/peers.js';

const config = JSON.parse(document.getElementById('ui-config').textContent);
const BASE = config.ContentPath;
const SECTIONS = [
  ['services', 'Services', services], ['nodes', 'Nodes', nodes], ['kv', 'Key/Value', kv],
  ['intentions', 'Intentions', intentions], ['peers', 'Peers', peers], ['acls', 'Access Controls', acls],
];
let current = null;

function showError(err) {
  const box = document.getElementById('errors');
  const text = err instanceof Error ? err.message : String(err);
  if ([...box.children].some((c) => c.dataset.text === text)) return;
  const item = h('div', { class: 'error', 'data-text': text },
    h('span', {}, text), h('button', { type: 'button', onclick: () => item.remove() }, 'Dismiss'));
  box.append(item);
}

function clearErrors() { document.getElementById('errors').replaceChildren(); }

export function href(dc, ...parts) {
  return BASE + [dc, ...parts].map((p) => p.split('/').map(encodeURIComponent).join('/')).join('/');
}

function navigate(url, { replace } = {}) {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  render(true);
}

function parse() {
  const rest = decodeURIComponent(location.pathname.slice(BASE.length));
  const [dc, section, ...parts] = rest.split('/');
  return { dc, section, parts, query: new URLSearchParams(location.search), trailing: rest.endsWith('/') };
}

function renderNav(dc, section) {
  const nav = document.getElementById('nav');
  nav.replaceChildren(h('ul', {}, SECTIONS.map(([key, label]) => h('li', {},
    h('a', { href: href(dc, key), 'aria-current': key === section ? 'page' : undefined }, label)))));
  document.getElementById('brand').setAttribute('href', href(dc, 'services'));
}

async function renderDatacenters(dc) {
  const select = document.getElementById('dc-switch');
  try {
    const dcs = await get('/v1/catalog/datacenters');
    select.replaceChildren(...dcs.map((name) => h('option', { value: name, selected: name === dc }, name)));
  } catch (err) { showError(err); }
}

export async function renderTokenStatus() {
  const el = document.getElementById('token-status');
  if (!token.get()) { el.textContent = 'No token'; return; }
  try {
    const self = await get('/v1/acl/token/self');
    el.textContent = `Token: ${self.Description || self.AccessorID.slice(0, 8)}`;
  } catch (err) {
    el.textContent = err.status === 403 ? 'Token not valid' : 'Token set';
  }
}

async function render(moved) {
  const { dc, section, parts, query, trailing } = parse();
  if (!dc) { navigate(href(config.Datacenter, 'services'), { replace: true }); return; }
  const entry = SECTIONS.find(([key]) => key === section);
  if (!entry) { navigate(href(dc, 'services'), { replace: true }); return; }
  if (current) current.abort();
  current = new AbortController();
  clearErrors();
  renderNav(dc, section);
  const dcSelect = document.getElementById('dc-switch');
  if (dcSelect.value !== dc) renderDatacenters(dc);
  const ctx = {
    dc, parts, query, trailing, signal: current.signal, showError, navigate, clearErrors,
    href: (...p) => href(dc, ...p), base: BASE, refreshToken: renderTokenStatus,
  };
  try {
    await entry[2].render(ctx);
  } catch (err) {
    if (!ctx.signal.aborted) showError(err);
  }
  if (moved) document.getElementById('main').focus();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => render(true));
document.getElementById('dc-switch').addEventListener('change', (ev) => {
  const { section } = parse();
  navigate(href(ev.target.value, section || 'services'));
});
renderTokenStatus();
render(false);
