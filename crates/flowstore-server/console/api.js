// Requests to the server. Every URL is relative to the console's own
// (`{base}/console/`), so the console works wherever the server is mounted.
// The token lives in this tab's session storage and goes out only as an
// `Authorization` header: no cookies, nothing for another site to ride on.

const TOKEN_KEY = 'flowstore-console-token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signedIn() {
  return token() !== null;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

function headers(extra = {}, candidate = token()) {
  const all = { ...extra };
  if (candidate) all.Authorization = `Bearer ${candidate}`;
  return all;
}

async function fail(response) {
  let kind = 'http';
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') kind = body.error;
    if (body && typeof body.message === 'string') message = body.message;
  } catch {
    // Not the protocol's JSON error body: the status says enough.
  }
  throw new ApiError(response.status, kind, message);
}

/** Checks `candidate` with a one-key listing; keeps it when the server accepts it. */
export async function signIn(candidate) {
  const response = await fetch('../states?limit=1', { headers: headers({}, candidate), cache: 'no-store' });
  if (!response.ok) await fail(response);
  sessionStorage.setItem(TOKEN_KEY, candidate);
}

async function getJson(url) {
  const response = await fetch(url, { headers: headers(), cache: 'no-store' });
  if (!response.ok) await fail(response);
  return response.json();
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(name, value);
  }
  const text = search.toString().replaceAll('+', '%20');
  return text ? `?${text}` : '';
}

/** One page of `GET /states`. */
export function listKeys(prefix, cursor, limit) {
  return getJson(`../states${query({ prefix, cursor, limit })}`);
}

export const keyUrl = (key) => `../states/${encodeURIComponent(key)}`;

/**
 * The value of `key`, reading at most `maxBytes` of it (the rest is not
 * downloaded). `null` when the key is absent.
 */
export async function getValue(key, maxBytes) {
  const controller = new AbortController();
  const response = await fetch(keyUrl(key), { headers: headers(), cache: 'no-store', signal: controller.signal });
  if (response.status === 404 && response.headers.get('flowstore-absent') !== null) return null;
  if (!response.ok) await fail(response);
  const reader = response.body.getReader();
  const chunks = [];
  let length = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
    if (length > maxBytes) {
      truncated = true;
      controller.abort();
      break;
    }
  }
  const body = new Uint8Array(Math.min(length, maxBytes));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, body.length - offset);
    body.set(part, offset);
    offset += part.length;
    if (offset === body.length) break;
  }
  return {
    bytes: body,
    truncated,
    version: response.headers.get('etag'),
    expiresAt: response.headers.get('flowstore-expires-at'),
  };
}

/** Deletes `key` only while it is still at `version` (an `ETag` value or a bare version). */
export async function deleteKey(key, version) {
  const extra = {};
  if (version) extra['If-Match'] = version.startsWith('"') ? version : `"${version}"`;
  const response = await fetch(keyUrl(key), { method: 'DELETE', headers: headers(extra) });
  if (!response.ok) await fail(response);
}

/** One page of `GET /flows`: the flow ids found among up to `limit` keys under `{prefix}:`. */
export function discoverFlows(prefix, cursor) {
  return getJson(`../flows${query({ prefix, cursor })}`);
}

export function flowSummary(flow, prefix, cursor) {
  return getJson(`../flows/${encodeURIComponent(flow)}/summary${query({ prefix, cursor })}`);
}

export function flowInstances(flow, prefix, cursor, limit) {
  return getJson(`../flows/${encodeURIComponent(flow)}/instances${query({ prefix, cursor, limit })}`);
}
