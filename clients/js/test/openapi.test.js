// What this package knows (api.json, its error classes, its types) agrees with the served /openapi.json.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";

import * as nsfw from "../src/index.js";
import { startService } from "./service.js";

const here = (path) => new URL(`../${path}`, import.meta.url);
const api = JSON.parse(await readFile(here("api.json"), "utf8"));
const pkg = JSON.parse(await readFile(here("package.json"), "utf8"));
let service, spec;
before(async () => {
  service = await startService();
  spec = await (await fetch(`${service.base}/openapi.json`)).json();
});
after(async () => {
  await service?.stop();
});

/** Every error code the document names, in any response's error schema. */
function servedCodes(node, found = new Set()) {
  if (Array.isArray(node)) node.forEach((n) => servedCodes(n, found));
  else if (node && typeof node === "object") {
    const code = node.properties?.code;
    if (node.properties?.message && Array.isArray(code?.enum)) code.enum.forEach((c) => found.add(c));
    Object.values(node).forEach((n) => servedCodes(n, found));
  }
  return found;
}

test("the error codes are the served ones, each with its class", () => {
  assert.deepEqual(api.codes, [...servedCodes(spec)].sort());
  assert.deepEqual(Object.keys(nsfw.BY_CODE).sort(), api.codes);
  for (const [code, Cls] of Object.entries(nsfw.BY_CODE)) assert.equal(nsfw[Cls.name], Cls, code);
});

/** Every error object schema in the document: its properties. */
function errorObjects(node, found = []) {
  if (Array.isArray(node)) node.forEach((n) => errorObjects(n, found));
  else if (node && typeof node === "object") {
    if (node.properties?.code && node.properties?.message) found.push(Object.keys(node.properties).sort());
    Object.values(node).forEach((n) => errorObjects(n, found));
  }
  return found;
}

test("the error fields are the served ones, and errors carry them", () => {
  const objects = errorObjects(spec);
  assert.ok(objects.length);
  for (const fields of objects) assert.deepEqual(fields, [...api.errorFields].sort());
  const error = nsfw.fromCode("listed_content", "m", { requestId: "r", match: { source: "list", distance: 0 } });
  assert.deepEqual([error.code, error.message, error.requestId, error.match.source], ["listed_content", "m", "r", "list"]);
});

test("the routes the client calls are served, with those methods", () => {
  for (const route of api.routes) {
    const [method, path] = route.split(" ");
    assert.ok(spec.paths[path]?.[method.toLowerCase()], route);
  }
});

test("the result fields are the served Classification's", async () => {
  const schema = spec.components.schemas.Classification;
  const served = Object.keys(schema.properties).sort();
  const pending = new Set(api.pendingFields.filter((f) => !served.includes(f)));
  assert.deepEqual(api.resultFields.filter((f) => !pending.has(f)).sort(), served);
  const types = await readFile(here("src/index.d.ts"), "utf8");
  const result = /export interface Result \{([\s\S]*?)\n\}/.exec(types)[1];
  const declared = [...result.matchAll(/^ {2}(\w+)(\??):/gm)];
  assert.deepEqual(declared.map((m) => m[1]).sort(), [...api.resultFields].sort());
  const optional = declared.filter((m) => m[2]).map((m) => m[1]);
  assert.deepEqual(optional.sort(), api.resultFields.filter((f) => !schema.required.includes(f)).sort());
});

test("the version follows the API's", () => {
  assert.equal(spec.info.version, api.version);
  assert.equal(pkg.version, api.version);
  assert.equal(nsfw.VERSION, api.version);
});

test("the error classes are declared in the types", async () => {
  const types = await readFile(here("src/errors.d.ts"), "utf8");
  for (const Cls of Object.values(nsfw.BY_CODE)) assert.match(types, new RegExp(`class ${Cls.name} extends APIError`));
});
