// A string store over flowstore's REST API, written like the original design's
// `APIStore` (useflow's "Custom Stores" page): GET/PUT/DELETE {base}/states/{key}
// with a bearer token and the value as the JSON body. Plain ES module, no build
// step, no packages: Node 18+ (global fetch) or a browser.
//
// One deliberate difference: the original treats every non-OK GET as "no saved
// state", so an outage looks like a new user. Here only flowstore's marked 404
// (`Flowstore-Absent: 1`) is "absent"; anything else throws.

export class APIStore {
  /**
   * @param {{ baseUrl: string, token?: string, fetch?: typeof fetch }} options
   */
  constructor({ baseUrl, token, fetch: fetchImpl = globalThis.fetch }) {
    if (typeof fetchImpl !== "function") {
      throw new Error("APIStore needs fetch (Node 18 or later, or a browser)");
    }
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
    this.fetch = fetchImpl;
  }

  url(key) {
    return `${this.baseUrl}/states/${encodeURIComponent(key)}`;
  }

  headers(extra = {}) {
    return this.token ? { Authorization: `Bearer ${this.token}`, ...extra } : extra;
  }

  /** The stored string, or null when the server says the key is absent. */
  async get(key) {
    const response = await this.fetch(this.url(key), { headers: this.headers() });
    if (response.status === 404 && response.headers.get("flowstore-absent") === "1") {
      return null;
    }
    if (!response.ok) {
      throw new Error(`GET ${key}: HTTP ${response.status}`);
    }
    return await response.text();
  }

  async set(key, value) {
    const response = await this.fetch(this.url(key), {
      method: "PUT",
      headers: this.headers({ "Content-Type": "application/json" }),
      body: value,
    });
    if (!response.ok) {
      throw new Error(`PUT ${key}: HTTP ${response.status}`);
    }
  }

  async remove(key) {
    const response = await this.fetch(this.url(key), {
      method: "DELETE",
      headers: this.headers(),
    });
    if (!response.ok) {
      throw new Error(`DELETE ${key}: HTTP ${response.status}`);
    }
  }
}

/** The original design's default key layout. */
export function flowKey(flowId, variantId = "default", instanceId = "default") {
  return `useflow:${flowId}:${variantId}:${instanceId}`;
}

/**
 * Saves `state` as the original persister does: stamps `__meta.savedAt` (now,
 * ms) and `__meta.version`, keeps every other `__meta` field, and writes the
 * self-describing instance under the default key. Returns what it wrote.
 */
export async function saveFlow(store, { flowId, variantId = "default", instanceId = "default" }, state, version) {
  const instance = {
    flowId,
    instanceId,
    variantId,
    state: { ...state, __meta: { ...state.__meta, savedAt: Date.now(), version } },
  };
  await store.set(flowKey(flowId, variantId, instanceId), JSON.stringify(instance));
  return instance;
}

/** The saved instance (parsed), or null when there is none. */
export async function restoreFlow(store, { flowId, variantId = "default", instanceId = "default" }) {
  const text = await store.get(flowKey(flowId, variantId, instanceId));
  return text === null ? null : JSON.parse(text);
}
