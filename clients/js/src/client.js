// The client of nsfw-service's /v1 API: the platform's fetch, no dependencies.
// The same surface as the Python client (clients/python): classify, classifyMany, predictUrl, health.

import { APIError, ServiceUnreachable, UnexpectedResponse, BatchTooLarge, TooLarge, fromCode } from "./errors.js";

export const VERSION = "1.0.0"; // the API version it speaks: info.version of /openapi.json
// Refused before any work was done, and said to be temporary: safe to send again.
export const RETRYABLE = new Set(["overloaded", "rate_limited", "rate_limit_unavailable", "not_ready"]);
export const DEFAULT_BATCH = 16; // the service's default NSFW_MAX_BATCH; a smaller limit is learnt from its answer

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function isUrl(source) {
  return typeof source === "string" && /^https?:\/\//i.test(source);
}

/** A source as the service takes it: {url} or {blob, name}. A string that is not a URL is a path (Node). */
async function toItem(source) {
  if (isUrl(source)) return { url: source };
  if (typeof source === "string") {
    const { readFile } = await import("node:fs/promises");
    const { basename } = await import("node:path");
    return { blob: new Blob([await readFile(source)]), name: basename(source) };
  }
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    return { blob: source, name: typeof source.name === "string" && source.name ? source.name : "image" };
  }
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return { blob: new Blob([source]), name: "image" };
  throw new TypeError("cannot classify this: give a URL, a path, a Blob or File, or bytes (Uint8Array, Buffer)");
}

function query(options = {}) {
  const params = new URLSearchParams();
  const given = { model: options.model, adult_threshold: options.adultThreshold, safe_threshold: options.safeThreshold };
  for (const [key, value] of Object.entries(given)) if (value !== undefined && value !== null) params.set(key, String(value));
  return params;
}

/** Indexes of `sources` in requests of at most `size`, URLs and uploads apart, each in input order. */
export function batches(sources, size) {
  const out = [];
  for (const wanted of [true, false]) {
    const chosen = sources.map((s, n) => [s, n]).filter(([s]) => isUrl(s) === wanted).map(([, n]) => n);
    for (let start = 0; start < chosen.length; start += size) out.push(chosen.slice(start, start + size));
  }
  return out;
}

/** After a batch was refused as too big: the size to try instead, or null if splitting cannot help. */
export function smallerBatch(error, size) {
  if (size <= 1 || error.status !== 413 || !(error instanceof BatchTooLarge || error instanceof TooLarge)) return null;
  const found = error instanceof BatchTooLarge ? /at most (\d+)/.exec(error.message) : null;
  const limit = found ? Number(found[1]) : Math.floor(size / 2);
  return Math.max(1, Math.min(limit, size - 1));
}

async function errorOf(response) {
  let requestId = response.headers.get("x-request-id");
  const header = response.headers.get("retry-after");
  const retryAfter = header !== null && !Number.isNaN(Number(header)) ? Math.max(0, Number(header)) : null;
  try {
    const { error } = await response.json();
    requestId = error.request_id ?? requestId;
    const fields = { status: response.status, requestId, retryAfter, match: error.match };
    return fromCode(String(error.code), String(error.message ?? ""), fields);
  } catch {
    const text = `HTTP ${response.status} without the service's error body`;
    return new UnexpectedResponse(text, { status: response.status, requestId });
  }
}

export class Client {
  /**
   * @param {import("./index.js").ClientOptions} [options]
   */
  constructor({
    baseUrl = "http://127.0.0.1:8080",
    apiKey = null,
    timeout = 30000,
    retries = 3,
    maxRetryAfter = 30,
    batchSize = DEFAULT_BATCH,
    fetch: fetcher = globalThis.fetch,
  } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.timeout = timeout;
    this.retries = retries;
    this.maxRetryAfter = maxRetryAfter;
    this.batchSize = batchSize;
    this.fetch = fetcher;
  }

  /** One image or video (a URL, a path, a Blob/File or bytes); its error is thrown. */
  async classify(source, options = {}) {
    const [outcome] = await this.#batch([await toItem(source)], query(options));
    if (outcome instanceof APIError) throw outcome;
    return outcome;
  }

  /** Many sources in /v1 batches, `concurrency` requests at a time; one outcome per source, in order.
   * A failed item is its error object in the array (not thrown); a whole request's failure is thrown. */
  async classifyMany(sources, { concurrency = 4, ...options } = {}) {
    const params = query(options);
    const found = new Array(sources.length);
    const pending = batches(sources, this.batchSize);
    const worker = async () => {
      for (let indexes = pending.shift(); indexes; indexes = pending.shift()) {
        const items = await Promise.all(indexes.map((n) => toItem(sources[n])));
        const done = await this.#batch(items, params);
        indexes.forEach((n, i) => (found[n] = done[i]));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return found;
  }

  /** The original contract, `POST /predict?url=`: the five class probabilities. */
  async predictUrl(url, options = {}) {
    const params = query(options);
    params.set("url", url);
    return (await this.#send("POST", `/predict?${params}`)).json();
  }

  /** Whether the service answers GET /health (false when it cannot be reached). */
  health() {
    return this.#probe("/health");
  }

  /** Whether the service's model is loaded (GET /ready). */
  ready() {
    return this.#probe("/ready");
  }

  /** The served models (GET /v1/models). */
  async models() {
    return (await (await this.#send("GET", "/v1/models")).json()).models;
  }

  /** The fetch given, called as a plain function: a browser's fetch refuses any `this` but the window. */
  #fetch(url, init) {
    const fetcher = this.fetch;
    return fetcher(url, init);
  }

  async #probe(path) {
    try {
      const response = await this.#fetch(this.baseUrl + path, { signal: AbortSignal.timeout(this.timeout) });
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  /** One /v1 request's outcomes; items the service was too busy for are sent again, as requests are. */
  async #batch(items, params) {
    const outcomes = await this.#request(items, params);
    for (let attempt = 0; attempt < this.retries; attempt++) {
      const again = outcomes.flatMap((o, n) => (o instanceof APIError && RETRYABLE.has(o.code) ? [n] : []));
      if (!again.length) break;
      await sleep(Math.min(this.maxRetryAfter, 0.25 * 2 ** attempt) * 1000);
      const redone = await this.#request(again.map((n) => items[n]), params);
      again.forEach((n, i) => (outcomes[n] = redone[i]));
    }
    return outcomes;
  }

  async #request(items, params) {
    try {
      return await this.#classify(items, params);
    } catch (error) {
      const size = error instanceof APIError ? smallerBatch(error, items.length) : null;
      if (size === null) throw error;
      this.batchSize = Math.min(this.batchSize, size);
      const out = [];
      for (let start = 0; start < items.length; start += size) {
        out.push(...(await this.#request(items.slice(start, start + size), params)));
      }
      return out;
    }
  }

  async #classify(items, params) {
    const path = `/v1/classify${params.size ? `?${params}` : ""}`;
    const body = () => {
      if (items.every((i) => i.url !== undefined)) return JSON.stringify({ urls: items.map((i) => i.url) });
      const form = new FormData();
      for (const item of items) form.append("image", item.blob, item.name);
      return form;
    };
    const response = await this.#send("POST", path, body);
    const requestId = response.headers.get("x-request-id");
    const { results } = await response.json();
    return results.map(({ error, ...result }) =>
      // an item has no status of its own
      error ? fromCode(error.code, error.message ?? "", { requestId, match: error.match }) : result,
    );
  }

  async #send(method, path, body = () => undefined) {
    const headers = { Accept: "application/json", "User-Agent": `nsfw-client-js/${VERSION}` };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    for (let attempt = 0; ; attempt++) {
      const payload = body(); // a fresh body per attempt: a sent FormData cannot be sent again
      if (typeof payload === "string") headers["Content-Type"] = "application/json";
      let response, delay;
      try {
        response = await this.#fetch(this.baseUrl + path, {
          method,
          headers,
          body: payload,
          signal: AbortSignal.timeout(this.timeout),
        });
      } catch (cause) {
        const refused = cause?.cause?.code === "ECONNREFUSED";
        if (!refused || attempt >= this.retries) throw new ServiceUnreachable(`${this.baseUrl}: ${cause.message}`, { cause });
        delay = 0.1 * 2 ** attempt; // never reached the service: safe to send again
      }
      if (response?.ok) return response;
      if (response) {
        const error = await errorOf(response);
        delay = retryDelay(error, attempt, this.retries, this.maxRetryAfter);
        if (delay === null) throw error;
      }
      await sleep(delay * 1000);
    }
  }
}

/** Seconds to wait before sending again, or null to give up (not retryable, out of tries, or over the cap). */
export function retryDelay(error, attempt, retries, cap) {
  if (!RETRYABLE.has(error.code) || attempt >= retries) return null;
  const delay = error.retryAfter ?? Math.min(cap, 0.25 * 2 ** attempt);
  return delay <= cap ? delay : null;
}
