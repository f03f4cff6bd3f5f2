// Peers: the cluster peerings (state, last heartbeat, imported and exported services), adding
// one (generate a token for the other cluster, or establish with the token it gave), deleting.
// Polled: a peering's state and stream status move in the leader's memory, not by Raft index.
import { del, poll, post, withQuery } from '../api.js';
import { h, meta, page, table } from '../dom.js';

const STATE_CLASS = { ACTIVE: 'passing', PENDING: 'warning', ESTABLISHING: 'warning', FAILING: 'critical', TERMINATED: 'critical', DELETING: 'warning' };
const peerPath = (ctx, name) => withQuery(`/v1/peering/${encodeURIComponent(name)}`, { dc: ctx.dc });
const state = (s) => h('span', { class: `status ${STATE_CLASS[s] || 'warning'}` }, s || 'UNDEFINED');
const when = (t) => (t ? new Date(t).toLocaleString() : 'never');

function generateForm(ctx) {
  const name = h('input', { id: 'peer-gen-name', required: true });
  const addresses = h('input', { id: 'peer-gen-addresses', placeholder: 'host:port, host:port' });
  const out = h('textarea', { id: 'peer-token', readonly: true, rows: 4, hidden: true });
  return h('section', { 'aria-labelledby': 'gen-h' }, h('h2', { id: 'gen-h' }, 'Generate a token'),
    h('p', {}, 'Give the token to the other cluster; it establishes the peering with it.'),
    h('form', { class: 'stack', onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { PeerName: name.value.trim() };
      const extra = addresses.value.split(',').map((a) => a.trim()).filter(Boolean);
      if (extra.length) body.ServerExternalAddresses = extra;
      try {
        const r = await post(withQuery('/v1/peering/token', { dc: ctx.dc }), body);
        out.value = r.PeeringToken;
        out.hidden = false;
      } catch (err) { ctx.showError(err); }
    } },
    h('label', {}, 'Name of the peer', name), h('label', {}, 'Server external addresses (optional)', addresses),
    h('button', { type: 'submit', class: 'primary', id: 'peer-generate' }, 'Generate token'), out));
}

function establishForm(ctx) {
  const name = h('input', { id: 'peer-est-name', required: true });
  const tokenBox = h('textarea', { id: 'peer-est-token', required: true, rows: 4 });
  return h('section', { 'aria-labelledby': 'est-h' }, h('h2', { id: 'est-h' }, 'Establish with a token'),
    h('form', { class: 'stack', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await post(withQuery('/v1/peering/establish', { dc: ctx.dc }), { PeerName: name.value.trim(), PeeringToken: tokenBox.value.trim() });
        ctx.navigate(ctx.href('peers', name.value.trim()));
      } catch (err) { ctx.showError(err); }
    } },
    h('label', {}, 'Name of the peer', name), h('label', {}, 'Token from the other cluster', tokenBox),
    h('button', { type: 'submit', class: 'primary', id: 'peer-establish' }, 'Establish peering')));
}

async function list(ctx) {
  const body = h('div', {});
  page('Peers', body, generateForm(ctx), establishForm(ctx));
  await poll(withQuery('/v1/peerings', { dc: ctx.dc }), ctx.signal, (peerings) => {
    const rows = (peerings || []).map((p) => {
      const s = p.StreamStatus || {};
      return h('tr', {},
        h('td', {}, h('a', { href: ctx.href('peers', p.Name) }, p.Name)),
        h('td', {}, state(p.State)),
        h('td', {}, (s.ImportedServices || []).length),
        h('td', {}, (s.ExportedServices || []).length),
        h('td', {}, when(s.LastHeartbeat)));
    });
    body.replaceChildren(rows.length ? table(['Name', 'State', 'Imported services', 'Exported services', 'Last heartbeat'], rows, 'Peers')
      : h('p', {}, 'No peers yet: generate a token for another cluster, or establish with one.'));
  }, ctx.showError);
}

async function detail(ctx, name) {
  const body = h('div', {});
  page(`Peer ${name}`, h('p', {}, h('a', { href: ctx.href('peers') }, '← All peers')), body,
    h('button', { type: 'button', class: 'danger', id: 'peer-delete', onclick: async () => {
      if (!window.confirm(`Delete the peering ${name}? Its imported services go away.`)) return;
      try { await del(peerPath(ctx, name)); ctx.navigate(ctx.href('peers')); } catch (err) { ctx.showError(err); }
    } }, 'Delete peering'));
  await poll(peerPath(ctx, name), ctx.signal, (p) => {
    const s = p.StreamStatus || {};
    const remote = p.Remote || {};
    body.replaceChildren(
      h('dl', { class: 'meta' },
        h('dt', {}, 'State'), h('dd', { id: 'peer-state' }, state(p.State)),
        h('dt', {}, 'Peer ID'), h('dd', {}, p.PeerID || ''),
        h('dt', {}, 'Remote datacenter'), h('dd', {}, remote.Datacenter || ''),
        h('dt', {}, 'Server addresses'), h('dd', {}, (p.PeerServerAddresses || []).join(', ')),
        h('dt', {}, 'Last heartbeat'), h('dd', {}, when(s.LastHeartbeat)),
        h('dt', {}, 'Last received'), h('dd', {}, when(s.LastReceive)),
        h('dt', {}, 'Last sent'), h('dd', {}, when(s.LastSend))),
      h('h2', {}, 'Imported services'),
      (s.ImportedServices || []).length ? h('ul', { id: 'peer-imported' }, s.ImportedServices.map((svc) => h('li', {},
        h('a', { href: withQuery(ctx.href('services', svc, 'instances'), { peer: name }) }, svc)))) : h('p', {}, 'None'),
      h('h2', {}, 'Exported services'),
      (s.ExportedServices || []).length ? h('ul', { id: 'peer-exported' }, s.ExportedServices.map((svc) => h('li', {}, svc))) : h('p', {}, 'None'),
      h('h2', {}, 'Meta'), meta(p.Meta));
  }, ctx.showError);
}

export async function render(ctx) {
  const [name] = ctx.parts;
  return name ? detail(ctx, name) : list(ctx);
}
