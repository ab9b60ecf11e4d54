// The JS client against a real service (test/service.js).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
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
    const patient = new nsfw.Client({ baseUrl: protectedService.base, apiKey });
    assert.equal((await patient.classify(SAFE)).verdict, "safe");
  } finally {
    await protectedService.stop();
  }
});
