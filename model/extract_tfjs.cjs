#!/usr/bin/env node
/*
 * Turn one of nsfwjs's bundled models back into plain tfjs files.
 *
 * nsfwjs ships each model as JavaScript, not as files a converter can read:
 *   dist/models/<name>/model.min.js               UMD module exporting the tfjs
 *                                                 model.json object (a JS literal,
 *                                                 not valid JSON, so it is loaded
 *                                                 with require, never parsed as text)
 *   dist/models/<name>/group1-shardNofM.min.js    UMD module exporting one weight
 *                                                 shard as a base64 string
 *
 * This writes <out dir>/model.json (real JSON, weightsManifest paths renamed to
 * the .bin files) and one <out dir>/group1-shardNofM.bin per shard (the decoded
 * bytes; a reader concatenates a group's shards in its "paths" order, as tfjs
 * does). Works for layers-models (mobilenet_v2, inception_v3: 6 shards) and
 * graph-models (mobilenet_v2_mid: 2 shards) alike. Nothing is fetched: the
 * input is an unpacked npm tarball.
 *
 * Usage: node extract_tfjs.cjs <package models dir> <out dir> [model name]
 *        (model name defaults to mobilenet_v2)
 */
"use strict";

const fs = require("fs");
const path = require("path");

function fail(message) {
  process.stderr.write(`extract_tfjs: ${message}\n`);
  process.exit(1);
}

function main(argv) {
  if (argv.length < 2 || argv.length > 3) {
    fail("usage: node extract_tfjs.cjs <package models dir> <out dir> [model name]");
  }
  const modelsDir = path.resolve(argv[0]);
  const outDir = path.resolve(argv[1]);
  const name = argv[2] || "mobilenet_v2";
  const srcDir = path.join(modelsDir, name);
  const modelJsPath = path.join(srcDir, "model.min.js");
  if (!fs.existsSync(modelJsPath)) fail(`no ${modelJsPath}`);

  const modelJson = require(modelJsPath);
  if (!modelJson || !modelJson.modelTopology || !Array.isArray(modelJson.weightsManifest)) {
    fail(`${modelJsPath} does not export a tfjs model.json object`);
  }

  fs.mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const group of modelJson.weightsManifest) {
    const expectedBytes = group.weights.reduce((total, spec) => {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const dtype = spec.quantization ? spec.quantization.dtype : spec.dtype;
      const width = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4 }[dtype];
      if (!width) fail(`unsupported weight dtype ${dtype} for ${spec.name}`);
      return total + count * width;
    }, 0);
    let groupBytes = 0;
    group.paths = group.paths.map((shardName) => {
      const base = shardName.replace(/\.bin$/, "");
      const shardJsPath = path.join(srcDir, `${base}.min.js`);
      if (!fs.existsSync(shardJsPath)) fail(`no ${shardJsPath}`);
      const base64 = require(shardJsPath);
      if (typeof base64 !== "string") fail(`${shardJsPath} does not export a string`);
      const bytes = Buffer.from(base64, "base64");
      groupBytes += bytes.length;
      const binName = `${base}.bin`;
      fs.writeFileSync(path.join(outDir, binName), bytes);
      written.push(`${binName} (${bytes.length} bytes)`);
      return binName;
    });
    if (groupBytes !== expectedBytes) {
      fail(`weight group holds ${groupBytes} bytes, its specs need ${expectedBytes}`);
    }
  }

  fs.writeFileSync(path.join(outDir, "model.json"), JSON.stringify(modelJson, null, 1) + "\n");
  written.unshift("model.json");
  process.stdout.write(`extract_tfjs: wrote ${written.join(", ")} to ${outDir}\n`);
}

main(process.argv.slice(2));
