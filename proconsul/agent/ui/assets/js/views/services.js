// Services: the list with health summaries (search, filter by health, tag and kind),
// a service's instances, and one instance's checks, tags, meta and upstreams.
import { get, watch, withQuery } from '../api.js';
import { esc, h, meta, page, status, table, tags } from '../dom.js';

const enc = encodeURIComponent;
const RENDERED = 'proconsul:services-rendered'; // what bench/ui_bench.py times
const PAGE = 100; // rows added at a time

export function health(s) {
  if (s.ChecksCritical > 0) return 'critical';
  if (s.ChecksWarning > 0) return 'warning';
  return 'passing';
}

const KINDS = { '': 'Services', 'connect-proxy': 'Proxies', gateway: 'Gateways' };

function matches(s, f) {
  if (f.health && health(s) !== f.health) return false;
  if (f.tag && !(s.Tags || []).includes(f.tag)) return false;
  const kind = s.Kind || '';
  if (f.kind === 'default') { if (kind === 'connect-proxy') return false; } // as Consul's UI: proxies hidden
  else if (f.kind === 'gateway' ? !kind.endsWith('gateway') : f.kind !== 'all' && kind !== f.kind) return false;
  if (!f.text) return true;
  const t = f.text.toLowerCase();
  return s.Name.toLowerCase().includes(t) || (s.Tags || []).some((x) => x.toLowerCase().includes(t));
}

function rowsHtml(list, ctx) {
  let out = '';
  for (const s of list) {
    const st = health(s);
    out += `<tr><td><a href="${esc(ctx.href('services', s.Name, 'instances'))}">${esc(s.Name)}</a>`
      + `${s.Kind ? ` <span class="tag">${esc(s.Kind)}</span>` : ''}</td>`
      + `<td><span class="status ${st}">${st}</span></td>`
      + `<td>${s.InstanceCount} instance${s.InstanceCount === 1 ? '' : 's'}</td>`
      + `<td>${s.ChecksPassing} passing, ${s.ChecksWarning} warning, ${s.ChecksCritical} critical</td>`
      + `<td>${(s.Tags || []).map((t) => `<span class="tag">${esc(t)}</span>`).join('')}</td></tr>`;
  }
  return out;
}

async function list(ctx) {
  const f = { text: ctx.query.get('filter') || '', health: ctx.query.get('status') || '',
    tag: '', kind: ctx.query.get('kind') || 'default' };
  const count = h('p', { id: 'service-count', 'aria-live': 'polite' });
  const tbody = h('tbody', { id: 'service-rows' });
  const tagSelect = h('select', { id: 'svc-tag' }, h('option', { value: '' }, 'Any tag'));
  let data = [];
  let shown = [];
  let limit = PAGE;
  const more = h('button', { type: 'button', id: 'svc-more', onclick: () => { limit += PAGE; drawRows(); } }, 'Show more');
  const drawRows = () => {
    tbody.innerHTML = rowsHtml(shown.slice(0, limit), ctx);
    more.hidden = shown.length <= limit;
    more.textContent = `Show more (${Math.max(shown.length - limit, 0)} not shown)`;
    grow.unobserve(more); // observed afresh: a button still in view asks for the next page
    grow.observe(more);
  };
  const draw = () => {
    shown = data.filter((s) => matches(s, f));
    count.textContent = `${shown.length} of ${data.length} services`;
    drawRows();
  };
  // rows are added a page at a time as the list scrolls into view (or "Show more" is pressed):
  // thousands of rows at once would cost seconds of layout
  const grow = new IntersectionObserver((seen) => {
    if (seen.some((e) => e.isIntersecting) && !more.hidden) { limit += PAGE; drawRows(); }
  });
  ctx.signal.addEventListener('abort', () => grow.disconnect());
  const input = (key) => (ev) => { f[key] = ev.target.value; limit = PAGE; draw(); };
  page('Services',
    h('div', { class: 'toolbar', role: 'search' },
      h('label', {}, 'Search', h('input', { id: 'svc-search', type: 'search', value: f.text, oninput: input('text') })),
      h('label', {}, 'Health', h('select', { id: 'svc-health', onchange: input('health') },
        ['', 'passing', 'warning', 'critical'].map((v) => h('option', { value: v, selected: v === f.health }, v || 'Any health')))),
      h('label', {}, 'Tag', tagSelect),
      h('label', {}, 'Kind', h('select', { id: 'svc-kind', onchange: input('kind') },
        [['default', 'All but proxies'], ['all', 'All kinds'], ...Object.entries(KINDS)].map(([v, t]) => h('option', { value: v, selected: v === f.kind }, t))))),
    count,
    h('div', { class: 'table-wrap' }, h('table', { class: 'responsive', 'aria-label': 'Services' },
      h('thead', {}, h('tr', {}, ['Service', 'Health', 'Instances', 'Checks', 'Tags'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)), more);
  tagSelect.addEventListener('change', input('tag'));
  await watch('/v1/internal/ui/services' + (ctx.dc ? `?dc=${enc(ctx.dc)}` : ''), ctx.signal, (d) => {
    data = d;
    const all = [...new Set(d.flatMap((s) => s.Tags || []))].sort();
    if (all.length !== tagSelect.options.length - 1) {
      tagSelect.replaceChildren(h('option', { value: '' }, 'Any tag'),
        ...all.slice(0, 500).map((t) => h('option', { value: t, selected: t === f.tag }, t)));
    }
    draw();
    if (!performance.getEntriesByName(RENDERED).length) {
      requestAnimationFrame(() => setTimeout(() => performance.mark(RENDERED))); // after the frame is painted
    }
  }, ctx.showError);
}

function instanceHealth(inst) {
  const st = inst.Checks.map((c) => c.Status);
  if (st.includes('critical')) return 'critical';
  if (st.includes('warning')) return 'warning';
  return 'passing';
}

function topologySection(ctx, name) {
  const box = h('section', { 'aria-labelledby': 'topo-h' }, h('h2', { id: 'topo-h' }, 'Upstreams and downstreams'));
  get(withQuery(`/v1/internal/ui/service-topology/${enc(name)}`, { dc: ctx.dc, kind: '' }), { signal: ctx.signal })
    .then((topo) => {
      const side = (label, list) => h('div', {}, h('h3', {}, label), list.length
        ? h('ul', {}, list.map((s) => h('li', {}, h('a', { href: ctx.href('services', s.Name, 'instances') }, s.Name), ' ',
          h('span', { class: s.Intention.Allowed ? 'passing' : 'critical' }, s.Intention.Allowed ? 'allowed' : 'denied by intentions'))))
        : h('p', {}, 'None'));
      box.append(h('div', { class: 'grid2' }, side('Upstreams', topo.Upstreams), side('Downstreams', topo.Downstreams)));
    }).catch((err) => { if (!ctx.signal.aborted) box.append(h('p', {}, err.message)); });
  return box;
}

function checkList(checks) {
  if (!checks.length) return h('p', {}, 'No checks');
  return h('div', {}, checks.map((c) => h('article', { class: 'check', 'aria-label': `Check ${c.Name}` },
    h('div', { class: 'row' }, h('strong', {}, c.Name), status(c.Status),
      h('span', { class: 'tag' }, c.ServiceID ? 'service check' : 'node check'), c.Type ? h('span', { class: 'tag' }, c.Type) : null),
    c.Notes ? h('p', {}, c.Notes) : null,
    h('pre', { class: 'output', 'aria-label': `Output of ${c.Name}` }, c.Output || '(no output)'))));
}

async function instances(ctx, name) {
  const body = h('div', {});
  const peer = ctx.query.get('peer') || undefined; // a service imported from a cluster peer
  page(peer ? `${name} (from peer ${peer})` : name,
    h('p', {}, h('a', { href: peer ? ctx.href('peers', peer) : ctx.href('services') }, peer ? `← Peer ${peer}` : '← All services')),
    body, peer ? null : topologySection(ctx, name));
  await watch(withQuery(`/v1/health/service/${enc(name)}`, { dc: ctx.dc, peer }), ctx.signal, (rows) => {
    const allTags = [...new Set(rows.flatMap((r) => r.Service.Tags || []))].sort();
    body.replaceChildren(
      h('h2', {}, 'Tags'), allTags.length ? h('p', {}, tags(allTags)) : h('p', {}, 'None'),
      h('h2', {}, `Instances (${rows.length})`),
      table(['Instance', 'Node', 'Address', 'Health', 'Checks'], rows.map((r) => {
        const addr = `${r.Service.Address || r.Node.Address}:${r.Service.Port}`;
        return h('tr', {},
          h('td', {}, peer ? r.Service.ID : h('a', { href: ctx.href('services', name, 'instances', r.Node.Node, r.Service.ID) }, r.Service.ID)),
          h('td', {}, peer ? r.Node.Node : h('a', { href: ctx.href('nodes', r.Node.Node) }, r.Node.Node)),
          h('td', {}, addr), h('td', {}, status(instanceHealth(r))),
          h('td', {}, r.Checks.map((c) => h('div', {}, status(c.Status), ' ', c.Name))));
      }), 'Instances'));
  }, ctx.showError);
}

async function instance(ctx, name, node, id) {
  const body = h('div', {});
  page(`${id} on ${node}`, h('p', {}, h('a', { href: ctx.href('services', name, 'instances') }, `← ${name}`)), body);
  await watch(withQuery(`/v1/health/service/${enc(name)}`, { dc: ctx.dc, filter: `Node.Node == "${node}"` }), ctx.signal, (rows) => {
    const r = rows.find((x) => x.Service.ID === id);
    if (!r) { body.replaceChildren(h('p', {}, 'This instance is not registered (any more).')); return; }
    const ups = r.Service.Proxy && r.Service.Proxy.Upstreams ? r.Service.Proxy.Upstreams : [];
    body.replaceChildren(
      h('p', {}, 'Health: ', status(instanceHealth(r)), ` · ${r.Service.Address || r.Node.Address}:${r.Service.Port}`),
      h('h2', {}, 'Health checks'), checkList(r.Checks),
      h('h2', {}, 'Tags'), r.Service.Tags && r.Service.Tags.length ? h('p', {}, tags(r.Service.Tags)) : h('p', {}, 'None'),
      h('h2', {}, 'Meta'), meta(r.Service.Meta),
      h('h2', {}, 'Upstreams'), ups.length
        ? h('ul', {}, ups.map((u) => h('li', {}, `${u.DestinationName} → local port ${u.LocalBindPort}`)))
        : h('p', {}, 'None registered on this instance'));
  }, ctx.showError);
}

export async function render(ctx) {
  const [name, sub, node, id] = ctx.parts.filter((p, i) => p !== '' || i === 0);
  if (!name) return list(ctx);
  if (sub !== 'instances') { ctx.navigate(ctx.href('services', name, 'instances'), { replace: true }); return undefined; }
  if (node && id) return instance(ctx, name, node, id);
  return instances(ctx, name);
}

export { checkList };
