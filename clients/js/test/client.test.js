// The JS client against a real service (test/service.js).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { crc32, deflateSync } from "node:zlib";
import { after, before, test } from "node:test";

import * as nsfw from "../src/index.js";
import { ADULT, MAX_BATCH, SAFE, UNKNOWN, imageServer, nowhere, startService } from "./service.js";

let service, images;
before(async () => {
  images = await imageServer();
  service = await startService({ fetchPort: images.port });
});
after(async () => {
  await service?.stop();
  await images?.close();
});

const verdictOrCode = (o) => (o instanceof nsfw.APIError ? o.code : o.verdict);

test("classify takes a path, bytes, a Blob and a URL", async () => {
  const client = new nsfw.Client({ baseUrl: service.base });
  const byPath = await client.classify(ADULT);
  const byBytes = await client.classify(await readFile(UNKNOWN));
  const byBlob = await client.classify(new File([await readFile(SAFE)], "safe.png"));
  const byUrl = await client.classify(images.url("/adult.png"));
  assert.deepEqual([byPath, byBytes, byBlob, byUrl].map((r) => r.verdict), ["adult", "unknown", "safe", "adult"]);
  assert.equal(byPath.source, "chelsea.png");
  assert.equal(byBlob.source, "safe.png");
  assert.deepEqual(Object.keys(byPath.scores).sort(), ["drawings", "hentai", "neutral", "porn", "sexy"]);
  assert.equal(byPath.image.format, "PNG");
  assert.match(byPath.pdq.hash, /^[0-9a-f]{64}$/);
});

test("thresholds and model per call", async () => {
  const client = new nsfw.Client({ baseUrl: service.base });
  const result = await client.classify(SAFE, { adultThreshold: 0.0001, safeThreshold: 0, model: "mobilenet_v2" });
  assert.equal(result.verdict, "adult");
});

test("errors are one class per code, with the message and the request id", async () => {
  const client = new nsfw.Client({ baseUrl: service.base });
  await assert.rejects(client.classify(new TextEncoder().encode("not an image")), (error) => {
    assert.ok(error instanceof nsfw.UnsupportedMedia && error instanceof nsfw.APIError);
    assert.equal(error.code, "unsupported_media");
    assert.ok(error.message && error.requestId);
    return true;
  });
  await assert.rejects(client.classify(SAFE, { model: "no-such-model" }), (error) => {
    assert.ok(error instanceof nsfw.UnknownModel);
    assert.equal(error.status, 400);
    assert.ok(error.requestId);
    return true;
  });
  await assert.rejects(client.classify("http://10.0.0.1/a.png"), nsfw.BlockedAddress);
});

test("classifyMany splits to the server's batch limit and keeps the order", async () => {
  const client = new nsfw.Client({ baseUrl: service.base });
  const sources = [ADULT, images.url("/safe.png"), new Uint8Array([1, 2, 3]), UNKNOWN, await readFile(SAFE)];
  sources.push(...Array(4).fill(images.url("/adult.png")), ...Array(3).fill(SAFE));
  const outcomes = await client.classifyMany(sources, { concurrency: 3 });
  assert.equal(client.batchSize, MAX_BATCH);
  assert.deepEqual(outcomes.map(verdictOrCode), [
    "adult", "safe", "unsupported_media", "unknown", "safe", "adult", "adult", "adult", "adult", "safe", "safe", "safe",
  ]);
});

test("predictUrl, health, ready and models", async () => {
  const client = new nsfw.Client({ baseUrl: service.base });
  assert.deepEqual(Object.keys(await client.predictUrl(images.url("/adult.png"))).sort(), [
    "drawings", "hentai", "neutral", "porn", "sexy",
  ]);
  assert.equal(await client.health(), true);
  assert.equal(await client.ready(), true);
  assert.equal((await client.models())[0].name, "mobilenet_v2");
  await assert.rejects(client.predictUrl("not a url"), nsfw.InvalidUrl);
});

test("a service that is not there", async () => {
  const client = new nsfw.Client({ baseUrl: await nowhere(), retries: 1 });
  assert.equal(await client.health(), false);
  await assert.rejects(client.classify(SAFE), nsfw.ServiceUnreachable);
});

test("an API key, and 429 retried after Retry-After within the cap", async () => {
  const apiKey = "test-key-for-the-js-client";
  const protectedService = await startService({ apiKey, env: { NSFW_RATE_LIMIT: "1/second" } });
  try {
    const anonymous = new nsfw.Client({ baseUrl: protectedService.base });
    await assert.rejects(anonymous.classify(SAFE), (e) => e instanceof nsfw.Unauthorized && e.status === 401);
    await new Promise((r) => setTimeout(r, 1100));
    const impatient = new nsfw.Client({ baseUrl: protectedService.base, apiKey, retries: 0 });
    assert.equal((await impatient.classify(SAFE)).verdict, "safe");
    let limited = null; // the first answer of a fresh worker may be slow enough to open a new window
    for (let i = 0; i < 5 && !limited; i++) limited = await impatient.classify(SAFE).then(() => null, (e) => e);
    assert.ok(limited instanceof nsfw.RateLimited && limited.retryAfter > 0 && limited.requestId, String(limited));
    const capped = new nsfw.Client({ baseUrl: protectedService.base, apiKey, maxRetryAfter: 0.5 });
    await assert.rejects(capped.classify(SAFE), nsfw.RateLimited);
    const statuses = [];
    const counting = async (url, init) => {
      const response = await fetch(url, init);
      statuses.push(response.status);
      return response;
    };
    const patient = new nsfw.Client({ baseUrl: protectedService.base, apiKey, fetch: counting });
    // one image a second: three in a row cannot all pass at once; each waits its Retry-After
    for (let i = 0; i < 3; i++) assert.equal((await patient.classify(SAFE)).verdict, "safe");
    assert.ok(statuses.length > 3, String(statuses));
    assert.equal(statuses.filter((s) => s === 429).length, statuses.length - 3);
  } finally {
    await protectedService.stop();
  }
});

/** A PNG of noise, its own for each seed (never a cache hit), slow enough to decode to keep a decoder busy. */
function noisePng(seed, side = 1000) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB
  const rows = Buffer.alloc(side * (side * 3 + 1));
  let state = seed + 1;
  for (let i = 0; i < rows.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    rows[i] = i % (side * 3 + 1) === 0 ? 0 : state >>> 24;
  }
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(rows, { level: 1 })), chunk("IEND", Buffer.alloc(0))]);
}

test("items refused as overloaded are sent again", async () => {
  const busy = await startService({ env: { NSFW_DECODERS: "1", NSFW_QUEUE_DEPTH: "0" } });
  try {
    const images = Array.from({ length: 8 }, (_, seed) => noisePng(seed));
    const impatient = new nsfw.Client({ baseUrl: busy.base, retries: 0 });
    const first = await impatient.classifyMany(images.slice(0, 4), { concurrency: 2 });
    assert.ok(first.some((o) => o instanceof nsfw.Overloaded), "the service was never busy: nothing tested");
    const patient = new nsfw.Client({ baseUrl: busy.base, retries: 6 });
    const outcomes = await patient.classifyMany(images.slice(4), { concurrency: 2 });
    assert.deepEqual(outcomes.map(verdictOrCode).filter((v) => !["adult", "unknown", "safe"].includes(v)), []);
  } finally {
    await busy.stop();
  }
});
