// Intentions: the list, create and edit (L4 allow/deny, or L7 permissions on HTTP paths and
// methods), delete, and "may source reach destination?".
import { del, get, put, watch, withQuery } from '../api.js';
import { h, page, table } from '../dom.js';

const exact = (ctx, src, dst) => withQuery('/v1/connect/intentions/exact', { dc: ctx.dc, source: src, destination: dst });

function permissionRow(p = {}) {
  const http = p.HTTP || {};
  const path = http.PathExact ? ['PathExact', http.PathExact] : http.PathRegex ? ['PathRegex', http.PathRegex] : ['PathPrefix', http.PathPrefix || ''];
  const row = h('fieldset', { class: 'row perm' }, h('legend', {}, 'Permission'),
    h('label', {}, 'Action', h('select', { name: 'action' }, ['allow', 'deny'].map((a) => h('option', { selected: p.Action === a }, a)))),
    h('label', {}, 'Match', h('select', { name: 'kind' }, ['PathPrefix', 'PathExact', 'PathRegex'].map((k) => h('option', { selected: path[0] === k }, k)))),
    h('label', {}, 'Path', h('input', { name: 'path', value: path[1] })),
    h('label', {}, 'Methods (comma-separated)', h('input', { name: 'methods', value: (http.Methods || []).join(', ') })),
    h('button', { type: 'button', onclick: () => row.remove() }, 'Remove'));
  return row;
}

function readPermission(row) {
  const q = (n) => row.querySelector(`[name=${n}]`).value.trim();
  const http = {};
  if (q('path')) http[q('kind')] = q('path');
  const methods = q('methods').split(',').map((m) => m.trim().toUpperCase()).filter(Boolean);
  if (methods.length) http.Methods = methods;
  return { Action: q('action'), HTTP: http };
}

async function form(ctx, src, dst) {
  let existing = null;
  if (src && dst) {
    try { existing = await get(exact(ctx, src, dst), { signal: ctx.signal }); } catch (err) { if (err.status !== 404) throw err; }
  }
  const l7 = Boolean(existing && existing.Permissions && existing.Permissions.length);
  const source = h('input', { id: 'ixn-source', required: true, value: src || '', readonly: Boolean(existing) });
  const destination = h('input', { id: 'ixn-destination', required: true, value: dst || '', readonly: Boolean(existing) });
  const mode = h('select', { id: 'ixn-mode' }, [['l4', 'L4: allow or deny all traffic'], ['l7', 'L7: per HTTP request']].map(([v, t]) => h('option', { value: v, selected: (v === 'l7') === l7 }, t)));
  const action = h('select', { id: 'ixn-action' }, ['allow', 'deny'].map((a) => h('option', { selected: existing && existing.Action === a }, a)));
  const perms = h('div', { id: 'ixn-perms' }, (existing && existing.Permissions || []).map(permissionRow));
  const description = h('input', { id: 'ixn-description', value: existing ? existing.Description || '' : '' });
  const l4Box = h('div', {}, h('label', {}, 'Action', action));
  const l7Box = h('div', {}, perms, h('button', { type: 'button', onclick: () => perms.append(permissionRow({ Action: 'allow' })) }, 'Add permission'));
  const sync = () => { l4Box.hidden = mode.value !== 'l4'; l7Box.hidden = mode.value !== 'l7'; };
  mode.addEventListener('change', sync);
  sync();
  page(existing ? `Intention ${src} → ${dst}` : 'Create intention', h('p', {}, h('a', { href: ctx.href('intentions') }, '← All intentions')),
    h('form', { class: 'stack', onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { SourceName: source.value, DestinationName: destination.value, Description: description.value };
      if (mode.value === 'l4') body.Action = action.value;
      else body.Permissions = [...perms.querySelectorAll('.perm')].map(readPermission);
      try {
        await put(exact(ctx, source.value, destination.value), body);
        ctx.navigate(ctx.href('intentions'));
      } catch (err) { ctx.showError(err); }
    } },
    h('div', { class: 'grid2' }, h('label', {}, 'Source service', source), h('label', {}, 'Destination service', destination)),
    h('label', {}, 'Type', mode), l4Box, l7Box, h('label', {}, 'Description', description),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'ixn-save' }, 'Save'),
      existing ? h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!window.confirm(`Delete the intention ${src} → ${dst}?`)) return;
        try { await del(exact(ctx, src, dst)); ctx.navigate(ctx.href('intentions')); } catch (err) { ctx.showError(err); }
      } }, 'Delete') : null)));
}

function checker(ctx) {
  const src = h('input', { id: 'check-source', required: true });
  const dst = h('input', { id: 'check-destination', required: true });
  const out = h('p', { 'aria-live': 'polite', id: 'check-result' });
  return h('section', { 'aria-labelledby': 'check-h' }, h('h2', { id: 'check-h' }, 'Check source → destination'),
    h('form', { class: 'toolbar', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await get(withQuery('/v1/connect/intentions/check', { dc: ctx.dc, source: src.value, destination: dst.value }));
        out.className = r.Allowed ? 'passing' : 'critical';
        out.textContent = `${src.value} → ${dst.value}: ${r.Allowed ? 'allowed' : 'denied'}`;
      } catch (err) { ctx.showError(err); }
    } }, h('label', {}, 'Source', src), h('label', {}, 'Destination', dst), h('button', { type: 'submit' }, 'Check')), out);
}

async function list(ctx) {
  const body = h('div', {});
  page('Intentions', h('p', {}, h('a', { href: ctx.href('intentions', 'create'), id: 'ixn-create' }, 'Create intention')), body, checker(ctx));
  await watch(withQuery('/v1/connect/intentions', { dc: ctx.dc }), ctx.signal, (ixns) => {
    body.replaceChildren(ixns.length ? table(['Source', 'Destination', 'Permission', 'Description'], ixns.map((i) => h('tr', {},
      h('td', {}, h('a', { href: withQuery(ctx.href('intentions', 'edit'), { source: i.SourceName, destination: i.DestinationName }) }, i.SourceName)),
      h('td', {}, i.DestinationName),
      h('td', {}, i.Permissions && i.Permissions.length ? `L7 (${i.Permissions.length} rules)` : h('span', { class: i.Action === 'allow' ? 'passing' : 'critical' }, i.Action)),
      h('td', {}, i.Description || ''))), 'Intentions') : h('p', {}, 'No intentions: the default policy decides.'));
  }, ctx.showError);
}

export async function render(ctx) {
  const [sub] = ctx.parts;
  if (sub === 'create') return form(ctx, '', '');
  if (sub === 'edit') return form(ctx, ctx.query.get('source'), ctx.query.get('destination'));
  return list(ctx);
}
