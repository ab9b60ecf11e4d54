#!/usr/bin/env node
/*
 * Classify raw RGB pixel files with the real nsfwjs package and its bundled
 * MobileNetV2 model, on tfjs's pure-JavaScript "cpu" backend.
 *
 * Usage: node classify.cjs <images.json>
 *   images.json: [{"name": ..., "path": <raw file>, "width": W, "height": H}, ...]
 *   each raw file holds H*W*3 bytes, row-major RGB, uint8.
 *
 * Prints one JSON object on stdout: versions, backend, and for every image the
 * five probabilities keyed by nsfwjs's class names. Probabilities are float32
 * values; JSON.stringify writes the shortest decimal that round-trips the
 * double holding them, so no precision is lost.
 *
 * Called by record.py; it needs `npm ci` in this directory first.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const tf = require("@tensorflow/tfjs");
const nsfwjs = require("nsfwjs/core");
const { MobileNetV2Model } = require("nsfwjs/models/mobilenet_v2");

function installedVersion(name) {
  const manifest = path.join(__dirname, "node_modules", name, "package.json");
  return JSON.parse(fs.readFileSync(manifest, "utf8")).version;
}

async function main() {
  const listPath = process.argv[2];
  if (!listPath) throw new Error("usage: node classify.cjs <images.json>");
  const images = JSON.parse(fs.readFileSync(listPath, "utf8"));

  await tf.setBackend("cpu");
  await tf.ready();

  // nsfwjs logs its model choice through console.info; keep stdout for the JSON.
  const info = console.info;
  console.info = (...args) => process.stderr.write(args.map(String).join(" ") + "\n");
  const model = await nsfwjs.load("MobileNetV2", { modelDefinitions: [MobileNetV2Model] });
  console.info = info;

  const results = {};
  for (const image of images) {
    const pixels = fs.readFileSync(image.path);
    if (pixels.length !== image.width * image.height * 3) {
      throw new Error(`${image.name}: ${pixels.length} bytes, expected ${image.width}x${image.height}x3`);
    }
    const tensor = tf.tensor3d(new Int32Array(pixels), [image.height, image.width, 3], "int32");
    const predictions = await model.classify(tensor, 5);
    tensor.dispose();
    const scores = {};
    for (const { className, probability } of predictions) scores[className] = probability;
    results[image.name] = scores;
  }
  model.dispose();

  const output = {
    nsfwjs: installedVersion("nsfwjs"),
    tfjs: installedVersion("@tensorflow/tfjs"),
    tfjs_core: tf.version_core,
    backend: tf.getBackend(),
    model: "MobileNetV2",
    results,
  };
  process.stdout.write(JSON.stringify(output) + "\n");
}

main().catch((error) => {
  process.stderr.write(`classify.cjs: ${error.stack || error}\n`);
  process.exit(1);
});
