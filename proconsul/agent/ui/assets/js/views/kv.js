// Key/Value: folder navigation, create/edit/delete with check-and-set (an edit made
// elsewhere meanwhile is detected and shown, never overwritten silently), a JSON/YAML-aware
// editor, search across keys and values, and a recursive flat view.
import { b64decode, del, get, pathEncode, put, request, watch, withQuery } from '../api.js';
import { h, page, table } from '../dom.js';
import { detect, validate } from '../validate.js';

const kvPath = (ctx, key, params = {}) => withQuery(`/v1/kv/${pathEncode(key)}`, { dc: ctx.dc, ...params });

function crumbs(ctx, prefix) {
  const parts = prefix.split('/').filter(Boolean);
  return h('nav', { 'aria-label': 'Folder path' }, h('ol', { class: 'crumbs' },
    h('li', {}, h('a', { href: ctx.href('kv') + '/' }, 'Key/Value')),
    parts.map((p, i) => h('li', {}, h('a', { href: `${ctx.href('kv', parts.slice(0, i + 1).join('/'))}/` }, p)))));
}

function folderOf(key) { return key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : ''; }

function highlight(text, term) {
  const at = text.toLowerCase().indexOf(term.toLowerCase());
  if (!term || at < 0) return [text];
  return [text.slice(0, at), h('mark', {}, text.slice(at, at + term.length)), text.slice(at + term.length)];
}

function searchBox(ctx, prefix, results) {
  const input = h('input', { id: 'kv-search', type: 'search', placeholder: 'in keys and values' });
  const run = async (ev) => {
    ev.preventDefault();
    const term = input.value;
    if (!term) { results.replaceChildren(); return; }
    try {
      const entries = (await get(kvPath(ctx, prefix, { recurse: '' }), { signal: ctx.signal }).catch((err) => {
        if (err.status === 404) return [];
        throw err;
      })) || [];
      const t = term.toLowerCase();
      const hits = entries.map((e) => ({ key: e.Key, value: b64decode(e.Value) }))
        .filter((e) => e.key.toLowerCase().includes(t) || e.value.toLowerCase().includes(t));
      results.replaceChildren(h('h2', { id: 'kv-results-h' }, `${hits.length} match${hits.length === 1 ? '' : 'es'} for "${term}"`),
        h('ul', { 'aria-labelledby': 'kv-results-h', id: 'kv-results' }, hits.map((e) => {
          const at = e.value.toLowerCase().indexOf(t);
          const snippet = at < 0 ? '' : e.value.slice(Math.max(0, at - 30), at + t.length + 30);
          return h('li', {}, h('a', { href: ctx.href('kv', e.key, 'edit') }, highlight(e.key, term)),
            snippet ? h('div', { class: 'tag' }, highlight(snippet, term)) : null);
        })));
    } catch (err) { ctx.showError(err); }
  };
  return h('form', { class: 'toolbar', role: 'search', onsubmit: run },
    h('label', {}, 'Search keys and values', input), h('button', { type: 'submit' }, 'Search'));
}

async function folder(ctx, prefix) {
  const flat = ctx.query.get('view') === 'flat';
  const results = h('div', { 'aria-live': 'polite' });
  const body = h('div', {});
  const here = prefix ? `${ctx.href('kv', prefix.replace(/\/$/, ''))}/` : `${ctx.href('kv')}/`;
  page(prefix || 'Key/Value', crumbs(ctx, prefix),
    h('div', { class: 'row' },
      h('a', { href: withQuery(`${ctx.href('kv', 'create')}`, { folder: prefix }), id: 'kv-create' }, 'Create key or folder'),
      flat ? h('a', { href: here }, 'Folder view') : h('a', { href: `${here}?view=flat`, id: 'kv-flat' }, 'Flat view (all keys below)')),
    searchBox(ctx, prefix, results), results, body);
  const url = flat ? kvPath(ctx, prefix, { recurse: '' }) : kvPath(ctx, prefix, { keys: '', separator: '/' });
  await watch(url, ctx.signal, (res) => {
    const data = res.status === 404 ? [] : JSON.parse(res.text);
    if (flat) {
      body.replaceChildren(h('p', {}, `${data.length} keys`), table(['Key', 'Value'], data.map((e) => h('tr', {},
        h('td', {}, h('a', { href: ctx.href('kv', e.Key, 'edit') }, e.Key)),
        h('td', {}, h('code', {}, b64decode(e.Value).slice(0, 120))))), 'All keys'));
      return;
    }
    const keys = data.filter((k) => k !== prefix);
    body.replaceChildren(keys.length ? table(['Name', ''], keys.map((k) => {
      const isFolder = k.endsWith('/');
      const name = k.slice(prefix.length);
      return h('tr', {},
        h('td', {}, h('a', { href: isFolder ? `${ctx.href('kv', k.replace(/\/$/, ''))}/` : ctx.href('kv', k, 'edit') },
          isFolder ? `📁 ${name}` : name)),
        h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${k}`, onclick: async () => {
          if (!window.confirm(`Delete ${k}${isFolder ? ' and everything in it' : ''}?`)) return;
          try { await del(kvPath(ctx, k, isFolder ? { recurse: '' } : {})); } catch (err) { ctx.showError(err); }
        } }, 'Delete')));
    }), 'Keys') : h('p', {}, 'No keys here yet.'));
  }, ctx.showError, { raw: true });
}

function editor(initial) {
  const area = h('textarea', { id: 'kv-value', 'aria-describedby': 'kv-validity', spellcheck: 'false' });
  area.value = initial;
  const format = h('select', { id: 'kv-format' }, [['auto', 'Detect'], ['text', 'Plain text'], ['json', 'JSON'], ['yaml', 'YAML']]
    .map(([v, t]) => h('option', { value: v }, t)));
  const validity = h('p', { id: 'kv-validity', 'aria-live': 'polite' });
  const check = () => {
    const kind = format.value === 'auto' ? detect(area.value) : format.value;
    const problem = validate(kind, area.value);
    validity.className = problem ? 'invalid' : 'valid';
    validity.textContent = problem || (kind === 'text' ? 'Plain text' : `Valid ${kind.toUpperCase()}`);
    return problem;
  };
  area.addEventListener('input', check);
  format.addEventListener('change', check);
  check();
  return { area, format, validity, check };
}

function conflictNotice(ctx, key, theirs, onLoad, onOverwrite) {
  const value = theirs ? b64decode(theirs.Value) : null;
  return h('div', { class: 'error', role: 'alert', id: 'kv-conflict' }, h('div', {},
    h('strong', {}, 'Conflict: '), theirs
      ? `${key} was changed by someone else since you opened it (now at index ${theirs.ModifyIndex}). Your edit was NOT saved.`
      : `${key} was deleted by someone else since you opened it. Your edit was NOT saved.`,
    value !== null ? h('pre', { class: 'output', 'aria-label': 'Current value' }, value) : null,
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: onLoad }, 'Discard mine, load current value'),
      h('button', { type: 'button', class: 'danger', onclick: onOverwrite }, 'Overwrite with mine'))));
}

async function edit(ctx, key) {
  const res = await request('GET', kvPath(ctx, key), undefined, { signal: ctx.signal, raw: true });
  if (res.status === 404) {
    page(key, crumbs(ctx, folderOf(key)), h('p', {}, 'This key does not exist.'),
      h('a', { href: withQuery(ctx.href('kv', 'create'), { folder: folderOf(key) }) }, 'Create a key'));
    return;
  }
  let [entry] = JSON.parse(res.text);
  const ed = editor(b64decode(entry.Value));
  const notice = h('div', {});
  const saved = h('p', { 'aria-live': 'polite', id: 'kv-saved' });
  const save = async (cas) => {
    if (ed.check() && !window.confirm('The value does not validate. Save anyway?')) return;
    notice.replaceChildren();
    try {
      const ok = await put(kvPath(ctx, key, { cas }), ed.area.value);
      if (ok) {
        const [fresh] = await get(kvPath(ctx, key));
        entry = fresh;
        saved.textContent = `Saved at index ${entry.ModifyIndex}.`;
      } else {
        await showConflict();
      }
    } catch (err) { ctx.showError(err); }
  };
  const showConflict = async () => {
    const now = await request('GET', kvPath(ctx, key), undefined, { raw: true });
    const theirs = now.status === 404 ? null : JSON.parse(now.text)[0];
    saved.textContent = '';
    notice.replaceChildren(conflictNotice(ctx, key, theirs, () => {
      if (theirs) { entry = theirs; ed.area.value = b64decode(theirs.Value); ed.check(); }
      notice.replaceChildren();
    }, () => save(theirs ? theirs.ModifyIndex : 0)));
  };
  const remove = async () => {
    if (!window.confirm(`Delete ${key}?`)) return;
    try {
      const ok = await del(kvPath(ctx, key, { cas: entry.ModifyIndex }));
      if (ok) ctx.navigate(`${ctx.href('kv', folderOf(key).replace(/\/$/, ''))}/`.replace(/\/\/$/, '/'));
      else await showConflict();
    } catch (err) { ctx.showError(err); }
  };
  page(key, crumbs(ctx, folderOf(key)), notice,
    h('form', { class: 'stack', onsubmit: (ev) => { ev.preventDefault(); save(entry.ModifyIndex); } },
      h('label', { for: 'kv-value' }, 'Value'), ed.area,
      h('div', { class: 'row' }, h('label', {}, 'Format', ed.format), ed.validity),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'kv-save' }, 'Save'),
        h('button', { type: 'button', class: 'danger', id: 'kv-delete', onclick: remove }, 'Delete')),
      saved,
      h('p', { class: 'tag' }, `ModifyIndex ${entry.ModifyIndex} · Flags ${entry.Flags}${entry.Session ? ` · locked by session ${entry.Session}` : ''}`)));
}

async function create(ctx) {
  const prefix = ctx.query.get('folder') || '';
  const name = h('input', { id: 'kv-key', required: true, 'aria-describedby': 'kv-key-help' });
  const ed = editor('');
  page('Create key', crumbs(ctx, prefix), h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    if (ed.check() && !window.confirm('The value does not validate. Save anyway?')) return;
    const key = prefix + name.value;
    try {
      const ok = await put(kvPath(ctx, key, { cas: 0 }), key.endsWith('/') ? '' : ed.area.value);
      if (!ok) { ctx.showError(new Error(`${key} already exists: nothing was changed`)); return; }
      ctx.navigate(key.endsWith('/') ? `${ctx.href('kv', key.replace(/\/$/, ''))}/` : ctx.href('kv', key, 'edit'));
    } catch (err) { ctx.showError(err); }
  } },
  h('label', {}, `Key name (under ${prefix || 'the root'})`, name),
  h('small', { id: 'kv-key-help' }, 'Use / to nest (a/b/c); end with / to create a folder.'),
  h('label', { for: 'kv-value' }, 'Value'), ed.area,
  h('div', { class: 'row' }, h('label', {}, 'Format', ed.format), ed.validity),
  h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'kv-save' }, 'Save'))));
}

export async function render(ctx) {
  const parts = ctx.parts.slice();
  if (parts[0] === 'create' && parts.length === 1) return create(ctx);
  if (parts.length > 1 && parts[parts.length - 1] === 'edit') return edit(ctx, parts.slice(0, -1).join('/'));
  const prefix = parts.filter(Boolean).join('/');
  return folder(ctx, prefix ? `${prefix}/` : '');
}
