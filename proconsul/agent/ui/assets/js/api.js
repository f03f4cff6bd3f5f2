// The HTTP API as the UI uses it: the token, readable errors, and blocking queries that
// wait on the servers for a change (X-Consul-Index) instead of polling.

const TOKEN_KEY = 'proconsul:token';
const WAIT = '60s';

export class ApiError extends Error {
  constructor(status, text, path) {
    super(`${status === 403 ? 'Permission denied' : `Error ${status}`}: ${text.trim() || 'no details'} (${path})`);
    this.status = status;
  }
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || '',
  set: (secret) => (secret ? localStorage.setItem(TOKEN_KEY, secret) : localStorage.removeItem(TOKEN_KEY)),
};

export async function request(method, path, body, { signal, raw } = {}) {
  const headers = {};
  const secret = token.get();
  if (secret) headers['X-Consul-Token'] = secret;
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload, signal });
  const text = await res.text();
  if (!res.ok && !(raw && res.status === 404)) throw new ApiError(res.status, text, `${method} ${path.split('?')[0]}`);
  const index = Number(res.headers.get('X-Consul-Index') || 0);
  if (raw) return { status: res.status, text, index };
  return { data: text ? JSON.parse(text) : null, index };
}

export const get = (path, opts) => request('GET', path, undefined, opts).then((r) => r.data);
export const put = (path, body, opts) => request('PUT', path, body, opts).then((r) => r.data);
export const post = (path, body, opts) => request('POST', path, body, opts).then((r) => r.data);
export const del = (path, opts) => request('DELETE', path, undefined, opts).then((r) => r.data);

export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, v);
  const s = q.toString().replace(/=(&|$)/g, '$1');
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

// Calls onData with each new result of a blocking query until signal aborts; onError with
// failures (the query is retried after a short back-off unless onError returns false).
export async function watch(path, signal, onData, onError, { raw } = {}) {
  let index = 0;
  let backoff = 500;
  while (!signal.aborted) {
    try {
      const url = index ? withQuery(path, { index, wait: WAIT }) : path;
      const res = await request('GET', url, undefined, { signal, raw });
      backoff = 500;
      if (res.index < index) index = 0;
      if (!index || res.index !== index) {
        index = res.index || 0;
        onData(raw ? res : res.data);
      }
      if (!res.index) return; // not a blocking endpoint
    } catch (err) {
      if (signal.aborted) return;
      if (onError(err) === false) return;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }
}

// Calls onData with the result of path every `every` ms until signal aborts: for reads whose
// answer moves without a Raft index (a peering's stream status lives in the leader's memory).
export async function poll(path, signal, onData, onError, every = 3000) {
  while (!signal.aborted) {
    try {
      onData(await get(path, { signal }));
    } catch (err) {
      if (signal.aborted) return;
      if (onError(err) === false) return;
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

export const b64decode = (s) => {
  if (s === null || s === undefined) return '';
  const bytes = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
};

export const pathEncode = (p) => p.split('/').map(encodeURIComponent).join('/');
