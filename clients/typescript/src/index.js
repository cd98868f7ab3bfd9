// Fetching prompts from a PromptRefine server (the same policy as the Python
// client): an in-memory copy per key with its ETag, revalidated with
// If-None-Match; a copy no older than `staleFor` ms served when the server is
// down; a `fallback` for a cold start; `watch()` refreshes the copy on push.

import { renderTexts } from "./template.js";

export { MissingVariables, RenderError, RenderedTooLarge, render, variables } from "./template.js";

export class PromptRefineError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

export class Unavailable extends PromptRefineError {}

export class Prompt {
  constructor(fields) {
    Object.assign(this, { settings: {}, variables: [], stale: false, fromFallback: false, fetchedAt: 0 }, fields);
  }
  get type() {
    return typeof this.content === "string" ? "text" : "chat";
  }
  /** The content with variables filled in, by the server's rules. */
  render(values) {
    if (typeof this.content === "string") return renderTexts([this.content], values)[0];
    const texts = renderTexts(this.content.map((m) => m.content), values);
    return this.content.map((m, i) => ({ role: m.role, content: texts[i] }));
  }
}

const fromAnswer = (data, etag) =>
  new Prompt({
    id: data.id, slug: data.slug, title: data.title, label: data.label ?? null,
    content: data.version.content, settings: data.version.settings ?? {},
    variables: data.version.variables ?? [], version: data.version.version,
    etag, fetchedAt: Date.now(),
  });

async function errorOf(res) {
  try {
    const { error } = await res.json();
    return new PromptRefineError(res.status, error.code, error.message);
  } catch {
    return new PromptRefineError(res.status, "unknown", res.statusText);
  }
}

export class Client {
  /**
   * @param {string} baseUrl @param {string} token
   * @param {{maxAge?: number, staleFor?: number, timeout?: number}} [opts] milliseconds
   */
  constructor(baseUrl, token, { maxAge = 0, staleFor = 300_000, timeout = 5_000 } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.headers = { authorization: `Bearer ${token}` };
    Object.assign(this, { maxAge, staleFor, timeout });
    /** @type {Map<string, Prompt>} */
    this.cache = new Map();
    this.watches = new Set();
  }

  static key(slug, label, version) {
    if (label != null && version != null) throw new Error("ask for a label or a version, not both");
    return `${slug}\u0000${version != null ? `#${version}` : label || "current"}`;
  }

  url(slug, { label, version } = {}) {
    const q = version != null ? `?version=${version}` : label ? `?label=${encodeURIComponent(label)}` : "";
    return `${this.baseUrl}/api/prompts/by-slug/${encodeURIComponent(slug)}${q}`;
  }

  /** @param {string} slug @param {{label?: string, version?: number, fallback?: Prompt}} [opts] */
  async getPrompt(slug, { label, version, fallback } = {}) {
    const key = Client.key(slug, label, version);
    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.fetchedAt < this.maxAge) return cached;
    return this.fetchInto(key, slug, { label, version, fallback });
  }

  async fetchInto(key, slug, { label, version, fallback }) {
    const cached = this.cache.get(key);
    const headers = { ...this.headers };
    if (cached?.etag) headers["if-none-match"] = cached.etag;
    let res;
    try {
      res = await fetch(this.url(slug, { label, version }), { headers, signal: AbortSignal.timeout(this.timeout) });
    } catch (e) {
      return this.failed(key, e, fallback);
    }
    if (res.status >= 500) return this.failed(key, await errorOf(res), fallback);
    if (res.status === 304 && cached) {
      const p = new Prompt({ ...cached, fetchedAt: Date.now(), stale: false });
      this.cache.set(key, p);
      return p;
    }
    if (res.status === 200) {
      const p = fromAnswer((await res.json()).data, res.headers.get("etag"));
      this.cache.set(key, p);
      return p;
    }
    // A 404 means gone: a deleted prompt is never served from a copy.
    this.cache.delete(key);
    throw await errorOf(res);
  }

  failed(key, cause, fallback) {
    const p = this.cache.get(key);
    if (p && Date.now() - p.fetchedAt <= this.staleFor) return new Prompt({ ...p, stale: true });
    if (fallback) return new Prompt({ ...fallback, fromFallback: true });
    const err = new Unavailable(503, "unavailable", `the server did not answer: ${cause?.message ?? cause}`);
    err.cause = cause;
    throw err;
  }

  /**
   * Follows the watch stream in the background and refreshes the cached copy
   * on every change (reconnecting with Last-Event-ID). Returns a stop function.
   */
  watch(slug, { label, retry = 1_000 } = {}) {
    const key = Client.key(slug, label, undefined);
    const controller = new AbortController();
    let last = null;
    const follow = async () => {
      while (!controller.signal.aborted) {
        try {
          const headers = { ...this.headers, ...(last ? { "last-event-id": last } : {}) };
          const q = label ? `?label=${encodeURIComponent(label)}` : "";
          const res = await fetch(`${this.baseUrl}/api/prompts/by-slug/${encodeURIComponent(slug)}/watch${q}`, {
            headers, signal: controller.signal,
          });
          if (res.status !== 200) throw await errorOf(res);
          const decoder = new TextDecoder();
          let buf = "";
          for await (const chunk of res.body) {
            buf += decoder.decode(chunk, { stream: true });
            let end;
            while ((end = buf.indexOf("\n\n")) >= 0) {
              const block = buf.slice(0, end);
              buf = buf.slice(end + 2);
              const idLine = block.split("\n").find((l) => l.startsWith("id:"));
              if (idLine === undefined) continue; // a heartbeat
              last = idLine.slice(3).trim() || null;
              if (last === null) this.cache.delete(key);
              else if (this.cache.get(key)?.etag !== last) await this.fetchInto(key, slug, { label }).catch(() => {});
            }
          }
        } catch {
          // reconnect below
        }
        if (!controller.signal.aborted) await new Promise((r) => setTimeout(r, retry));
      }
    };
    const task = follow();
    const stop = () => {
      controller.abort();
      this.watches.delete(stop);
      return task;
    };
    this.watches.add(stop);
    return stop;
  }

  /** Stops every watch. */
  async close() {
    await Promise.all([...this.watches].map((stop) => stop()));
  }
}
