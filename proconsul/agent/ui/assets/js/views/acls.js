// Access controls: log in with a token (kept in this browser only), the current token's
// permissions, and tokens, policies and roles: list, create, edit, delete.
import { del, get, post, put, token, watch, withQuery } from '../api.js';
import { h, page, table } from '../dom.js';

const KINDS = { tokens: 'Tokens', policies: 'Policies', roles: 'Roles' };
const PERMISSIONS = [
  ['acl', 'read'], ['acl', 'write'], ['operator', 'read'], ['operator', 'write'], ['agent', 'read'],
  ['node', 'read'], ['node', 'write'], ['service', 'read'], ['service', 'write'], ['key', 'read'],
  ['key', 'write'], ['intention', 'read'], ['intention', 'write'], ['session', 'read'], ['session', 'write'],
  ['event', 'read'], ['event', 'write'], ['query', 'read'], ['query', 'write'], ['keyring', 'read'], ['mesh', 'read'],
];

function loginPanel(ctx) {
  const secret = h('input', { id: 'login-token', type: 'password', autocomplete: 'off', required: true });
  const perms = h('div', { id: 'my-permissions' });
  const who = h('p', { id: 'login-state', 'aria-live': 'polite' });
  const refresh = async () => {
    ctx.refreshToken();
    if (!token.get()) { who.textContent = 'Not logged in: requests use the agent\'s default token.'; perms.replaceChildren(); return; }
    try {
      const self = await get('/v1/acl/token/self');
      who.textContent = `Logged in as ${self.Description || 'a token'} (AccessorID ${self.AccessorID}).`;
    } catch (err) { who.textContent = err.message; }
    try {
      const checks = PERMISSIONS.map(([Resource, Access]) => ({ Resource, Access, Segment: Resource === 'acl' || Resource === 'operator' || Resource === 'keyring' || Resource === 'mesh' ? undefined : '' }));
      const answers = await post('/v1/internal/acl/authorize', checks);
      perms.replaceChildren(h('h3', {}, 'What this token may do on every name (prefix "")'), h('ul', { class: 'row', style: 'list-style:none;padding:0' },
        answers.map((a) => h('li', { class: `tag ${a.Allow ? 'passing' : 'critical'}` }, `${a.Resource}:${a.Access} ${a.Allow ? '✓' : '✗'}`))));
    } catch (err) { perms.replaceChildren(h('p', {}, err.message)); }
  };
  refresh();
  return h('section', { 'aria-labelledby': 'login-h', class: 'notice' }, h('h2', { id: 'login-h' }, 'Your token'), who,
    h('form', { class: 'toolbar', onsubmit: async (ev) => {
      ev.preventDefault();
      token.set(secret.value.trim());
      secret.value = '';
      await refresh();
      ctx.navigate(location.pathname + location.search, { replace: true });
    } }, h('label', {}, 'Log in with a token (SecretID)', secret), h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Log in'),
    h('button', { type: 'button', id: 'logout', onclick: () => { token.set(''); refresh(); ctx.navigate(location.pathname, { replace: true }); } }, 'Log out')),
    perms);
}

function subnav(ctx, kind) {
  return h('nav', { 'aria-label': 'Access controls' }, h('ul', { class: 'row', style: 'list-style:none;padding:0' },
    Object.entries(KINDS).map(([k, t]) => h('li', {}, h('a', { href: ctx.href('acls', k), 'aria-current': k === kind ? 'page' : undefined }, t)))));
}

const names = (list) => (list || []).map((x) => x.Name).join(', ') || '—';

function checkboxes(legend, all, chosen, id) {
  const ids = new Set((chosen || []).map((x) => x.ID));
  return h('fieldset', { id }, h('legend', {}, legend), all.length ? all.map((x) => h('label', { style: 'flex-direction:row;gap:.4rem' },
    h('input', { type: 'checkbox', value: x.ID, checked: ids.has(x.ID) }), x.Name)) : h('p', {}, 'None defined'));
}
const checked = (box) => [...box.querySelectorAll('input:checked')].map((i) => ({ ID: i.value }));

async function listView(ctx, kind) {
  const body = h('div', {});
  page('Access controls', loginPanel(ctx), subnav(ctx, kind),
    h('p', {}, h('a', { href: ctx.href('acls', kind, 'create'), id: `create-${kind}` }, `Create ${kind.slice(0, -1).replace(/ie$/, 'y')}`)), body);
  const api = { tokens: '/v1/acl/tokens', policies: '/v1/acl/policies', roles: '/v1/acl/roles' }[kind];
  await watch(withQuery(api, { dc: ctx.dc }), ctx.signal, (rows) => {
    const link = (id, text) => h('a', { href: ctx.href('acls', kind, id) }, text);
    const render = {
      tokens: () => table(['AccessorID', 'Description', 'Policies', 'Roles', 'Scope'], rows.map((t) => h('tr', {},
        h('td', {}, link(t.AccessorID, t.AccessorID)), h('td', {}, t.Description || ''), h('td', {}, names(t.Policies)),
        h('td', {}, names(t.Roles)), h('td', {}, t.Local ? 'local' : 'global'))), 'Tokens'),
      policies: () => table(['Name', 'Description', 'Datacenters'], rows.map((p) => h('tr', {},
        h('td', {}, link(p.ID, p.Name)), h('td', {}, p.Description || ''), h('td', {}, (p.Datacenters || []).join(', ') || 'all'))), 'Policies'),
      roles: () => table(['Name', 'Description', 'Policies'], rows.map((r) => h('tr', {},
        h('td', {}, link(r.ID, r.Name)), h('td', {}, r.Description || ''), h('td', {}, names(r.Policies)))), 'Roles'),
    }[kind];
    body.replaceChildren(render());
  }, (err) => {
    if (err.status !== 401) return ctx.showError(err);
    body.replaceChildren(h('p', { class: 'notice' }, 'ACLs are disabled in this datacenter.'));
    return false; // nothing to wait for
  });
}

async function editView(ctx, kind, id) {
  const isNew = id === 'create';
  const one = { tokens: 'token', policies: 'policy', roles: 'role' }[kind];
  const current = isNew ? {} : await get(withQuery(`/v1/acl/${one}/${encodeURIComponent(id)}`, { dc: ctx.dc }), { signal: ctx.signal });
  const fields = [];
  const description = h('input', { id: 'acl-description', value: current.Description || '' });
  const name = h('input', { id: 'acl-name', required: true, value: current.Name || '' });
  const rules = h('textarea', { id: 'acl-rules' });
  rules.value = current.Rules || '';
  let policyBox = null;
  let roleBox = null;
  if (kind !== 'policies') {
    const policies = await get(withQuery('/v1/acl/policies', { dc: ctx.dc }));
    policyBox = checkboxes('Policies', policies, current.Policies, 'acl-policies');
  }
  if (kind === 'tokens') {
    const roles = await get(withQuery('/v1/acl/roles', { dc: ctx.dc }));
    roleBox = checkboxes('Roles', roles, current.Roles, 'acl-roles');
    if (!isNew) fields.push(h('p', {}, `AccessorID ${current.AccessorID}`), h('p', {}, 'SecretID: ', h('code', {}, current.SecretID || '(hidden)')));
  } else {
    fields.push(h('label', {}, 'Name', name));
  }
  fields.push(h('label', {}, 'Description', description));
  if (kind === 'policies') fields.push(h('label', { for: 'acl-rules' }, 'Rules (HCL or JSON)'), rules);
  const created = h('p', { 'aria-live': 'polite', id: 'acl-created' });
  const back = ctx.href('acls', kind);
  page(isNew ? `New ${one}` : `${one[0].toUpperCase()}${one.slice(1)} ${current.Name || current.Description || current.AccessorID}`,
    h('p', {}, h('a', { href: back }, `← ${KINDS[kind]}`)),
    h('form', { class: 'stack', onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { Description: description.value };
      if (kind !== 'tokens') body.Name = name.value;
      if (kind === 'policies') body.Rules = rules.value;
      if (policyBox) body.Policies = checked(policyBox);
      if (roleBox) body.Roles = checked(roleBox);
      const target = isNew ? `/v1/acl/${one}` : `/v1/acl/${one}/${encodeURIComponent(id)}`;
      try {
        const saved = await put(withQuery(target, { dc: ctx.dc }), body);
        if (isNew && kind === 'tokens') created.textContent = `Created. SecretID: ${saved.SecretID}`;
        else ctx.navigate(back);
      } catch (err) { ctx.showError(err); }
    } }, fields, policyBox, roleBox,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'acl-save' }, 'Save'),
      isNew ? null : h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!window.confirm(`Delete this ${one}?`)) return;
        try { await del(withQuery(`/v1/acl/${one}/${encodeURIComponent(id)}`, { dc: ctx.dc })); ctx.navigate(back); } catch (err) { ctx.showError(err); }
      } }, 'Delete')), created));
}

export async function render(ctx) {
  const [kind, id] = ctx.parts.filter(Boolean);
  if (!KINDS[kind]) { ctx.navigate(ctx.href('acls', 'tokens'), { replace: true }); return undefined; }
  return id ? editView(ctx, kind, id) : listView(ctx, kind);
}
