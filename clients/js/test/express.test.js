// The Express guard in a real Express app (express.raw reads the upload), against a real service.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";

import express from "express";

import { Client, Guard } from "../src/index.js";
import { nsfwGuard } from "../src/express.js";
import { ADULT, SAFE, UNKNOWN, nowhere, startService } from "./service.js";

let service;
before(async () => {
  service = await startService();
});
after(async () => {
  await service?.stop();
});

/** Starts the app on loopback; the handler answers what it received and what the guard decided. */
async function withApp(guardOptions, run) {
  const app = express();
  app.post("/upload", express.raw({ type: "image/*", limit: "10mb" }), nsfwGuard(guardOptions), (req, res) => {
    res.json({ bytes: req.body.length, flagged: req.nsfw.flagged, code: req.nsfw.decisions[0].code });
  });
  app.use((error, req, res, next) => {
    if (!error.decision) return next(error);
    res.status(error.status).json({ refused: error.code, message: error.message });
  });
  const server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  try {
    return await run(`http://127.0.0.1:${server.address().port}/upload`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

async function post(url, data) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "image/png" }, body: data });
  return { status: response.status, body: await response.json() };
}

// The same cases as the Python guards' (tests/clients/conftest.py GUARD_CASES).
const CASES = [
  ["adult refused", ADULT, "allow", false, false, "nsfw_adult"],
  ["unknown flagged", UNKNOWN, "flag", true, true, "nsfw_unknown"],
  ["unknown refused", UNKNOWN, "refuse", false, false, "nsfw_unknown"],
  ["unknown allowed", UNKNOWN, "allow", true, false, "nsfw_unknown"],
  ["safe allowed", SAFE, "refuse", true, false, "nsfw_safe"],
  ["not an image refused", null, "flag", false, false, "nsfw_unreadable"],
];

for (const [name, path, unknown, allowed, flagged, code] of CASES) {
  test(`express guard: ${name}`, async () => {
    const data = path ? await readFile(path) : Buffer.from("%PDF-1.4 not an image");
    const guard = new Guard(new Client({ baseUrl: service.base }), { unknown });
    const { status, body } = await withApp({ guard }, (url) => post(url, data));
    if (allowed) {
      assert.equal(status, 200);
      assert.deepEqual(body, { bytes: data.length, flagged, code });
    } else {
      assert.equal(status, 422);
      assert.equal(body.refused, code);
      assert.match(body.message, /^image: /);
    }
  });
}

test("express guard: a refusal without an error handler is Express's own 422", async () => {
  const app = express();
  const client = new Client({ baseUrl: service.base });
  app.post("/upload", express.raw({ type: "image/*", limit: "10mb" }), nsfwGuard({ client }), (req, res) => res.send("stored"));
  const server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  try {
    const url = `http://127.0.0.1:${server.address().port}/upload`;
    const response = await fetch(url, { method: "POST", headers: { "Content-Type": "image/png" }, body: await readFile(ADULT) });
    assert.equal(response.status, 422);
    assert.match(await response.text(), /adult content/);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

for (const [fail, allowed] of [["open", true], ["closed", false]]) {
  test(`express guard: the service down, fail ${fail}`, async () => {
    const client = new Client({ baseUrl: await nowhere(), retries: 0 });
    const data = await readFile(SAFE);
    const { status, body } = await withApp({ client, fail }, (url) => post(url, data));
    if (allowed) assert.deepEqual([status, body], [200, { bytes: data.length, flagged: true, code: "nsfw_unchecked" }]);
    else assert.deepEqual([status, body.refused], [422, "nsfw_unchecked"]);
  });
}
