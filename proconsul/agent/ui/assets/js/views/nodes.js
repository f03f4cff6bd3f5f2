// Nodes: the list with health and the leader badge; a node's checks, services, meta and
// sessions (which can be invalidated here).
import { get, put, watch, withQuery } from '../api.js';
import { h, meta, page, status, table, tags } from '../dom.js';
import { checkList } from './services.js';

const enc = encodeURIComponent;

function worst(checks) {
  const st = checks.map((c) => c.Status);
  if (st.includes('critical')) return 'critical';
  if (st.includes('warning')) return 'warning';
  return 'passing';
}

async function leaderAddress(ctx) {
  try {
    const leader = await get(withQuery('/v1/status/leader', { dc: ctx.dc }), { signal: ctx.signal });
    return leader ? leader.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') : '';
  } catch (err) { return ''; }
}

async function list(ctx) {
  const body = h('div', {});
  const search = h('input', { id: 'node-search', type: 'search' });
  page('Nodes', h('div', { class: 'toolbar', role: 'search' }, h('label', {}, 'Search', search)), body);
  const leader = await leaderAddress(ctx);
  let data = [];
  const draw = () => {
    const t = search.value.toLowerCase();
    const shown = data.filter((n) => !t || n.Node.toLowerCase().includes(t) || n.Address.includes(t));
    body.replaceChildren(h('p', { 'aria-live': 'polite' }, `${shown.length} of ${data.length} nodes`),
      table(['Node', 'Health', 'Address', 'Services'], shown.map((n) => h('tr', {},
        h('td', {}, h('a', { href: ctx.href('nodes', n.Node) }, n.Node), ' ',
          n.Address === leader ? h('span', { class: 'badge', title: 'Raft leader' }, 'Leader') : null),
        h('td', {}, status(worst(n.Checks))), h('td', {}, n.Address),
        h('td', {}, `${n.Services.length} service${n.Services.length === 1 ? '' : 's'}`))), 'Nodes'));
  };
  search.addEventListener('input', draw);
  await watch(withQuery('/v1/internal/ui/nodes', { dc: ctx.dc }), ctx.signal, (d) => { data = d; draw(); }, ctx.showError);
}

function sessionsSection(ctx, node) {
  const box = h('div', {});
  watch(withQuery(`/v1/session/node/${enc(node)}`, { dc: ctx.dc }), ctx.signal, (sessions) => {
    box.replaceChildren(sessions.length ? table(['ID', 'Name', 'Behavior', 'TTL', 'Checks', ''], sessions.map((s) => h('tr', {},
      h('td', {}, s.ID), h('td', {}, s.Name || '—'), h('td', {}, s.Behavior), h('td', {}, s.TTL || '—'),
      h('td', {}, (s.NodeChecks || s.Checks || []).join(', ')),
      h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Invalidate session ${s.ID}`,
        onclick: async () => {
          if (!window.confirm(`Invalidate session ${s.ID}? Its locks are released.`)) return;
          try { await put(withQuery(`/v1/session/destroy/${enc(s.ID)}`, { dc: ctx.dc })); } catch (err) { ctx.showError(err); }
        } }, 'Invalidate')))), 'Sessions') : h('p', {}, 'No sessions'));
  }, ctx.showError);
  return box;
}

async function detail(ctx, node) {
  const body = h('div', {});
  page(node, h('p', {}, h('a', { href: ctx.href('nodes') }, '← All nodes')), body,
    h('section', { 'aria-labelledby': 'sessions-h' }, h('h2', { id: 'sessions-h' }, 'Lock sessions'), sessionsSection(ctx, node)));
  const leader = await leaderAddress(ctx);
  await watch(withQuery(`/v1/internal/ui/node/${enc(node)}`, { dc: ctx.dc }), ctx.signal, (n) => {
    if (!n) { body.replaceChildren(h('p', {}, 'This node is not registered.')); return; }
    body.replaceChildren(
      h('p', {}, 'Health: ', status(worst(n.Checks)), ` · ${n.Address}`, n.Address === leader ? h('span', { class: 'badge' }, ' Leader') : null),
      h('h2', {}, 'Health checks'), checkList(n.Checks),
      h('h2', {}, 'Services'), n.Services.length ? table(['Service', 'ID', 'Port', 'Tags'], n.Services.map((s) => h('tr', {},
        h('td', {}, h('a', { href: ctx.href('services', s.Service, 'instances', n.Node, s.ID) }, s.Service)),
        h('td', {}, s.ID), h('td', {}, String(s.Port)), h('td', {}, tags(s.Tags)))), 'Services on this node') : h('p', {}, 'None'),
      h('h2', {}, 'Node meta'), meta(n.Meta));
  }, ctx.showError, {});
}

export async function render(ctx) {
  const node = ctx.parts.filter(Boolean)[0];
  return node ? detail(ctx, node) : list(ctx);
}
