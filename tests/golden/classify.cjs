#!/usr/bin/env node
/*
 * Classify raw RGB pixel files with the real nsfwjs package and its bundled
 * models, on tfjs's pure-JavaScript "cpu" backend.
 *
 * Usage: node classify.cjs <images.json> [model ...]
 *   images.json: [{"name": ..., "path": <raw file>, "width": W, "height": H}, ...]
 *   each raw file holds H*W*3 bytes, row-major RGB, uint8.
 *   model: one of mobilenet_v2 (default), mobilenet_v2_mid, inception_v3.
 *
 * Prints one JSON object on stdout: versions, backend, and for every model
 * and image the five probabilities keyed by nsfwjs's class names.
 * Probabilities are float32 values; JSON.stringify writes the shortest
 * decimal that round-trips the double holding them, so no precision is lost.
 *
 * Called by record.py; it needs `npm ci` in this directory first.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const tf = require("@tensorflow/tfjs");
const nsfwjs = require("nsfwjs/core");

// our model name -> [nsfwjs model name, module exporting its definition, export name]
const MODELS = {
  mobilenet_v2: ["MobileNetV2", "nsfwjs/models/mobilenet_v2", "MobileNetV2Model"],
  mobilenet_v2_mid: ["MobileNetV2Mid", "nsfwjs/models/mobilenet_v2_mid", "MobileNetV2MidModel"],
  inception_v3: ["InceptionV3", "nsfwjs/models/inception_v3", "InceptionV3Model"],
};

function installedVersion(name) {
  const manifest = path.join(__dirname, "node_modules", name, "package.json");
  return JSON.parse(fs.readFileSync(manifest, "utf8")).version;
}

async function classifyAll(ourName, images) {
  const [nsfwjsName, moduleName, exportName] = MODELS[ourName];
  const definition = require(moduleName)[exportName];
  // nsfwjs logs its model choice through console.info; keep stdout for the JSON.
  const info = console.info;
  console.info = (...args) => process.stderr.write(args.map(String).join(" ") + "\n");
  const model = await nsfwjs.load(nsfwjsName, { modelDefinitions: [definition] });
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
    process.stderr.write(`classify.cjs: ${nsfwjsName} ${image.name}\n`);
  }
  const size = model.options.size;
  model.dispose();
  return { nsfwjs_model: nsfwjsName, input_size: size, results };
}

async function main() {
  const [listPath, ...requested] = process.argv.slice(2);
  if (!listPath) throw new Error("usage: node classify.cjs <images.json> [model ...]");
  const names = requested.length ? requested : ["mobilenet_v2"];
  for (const name of names) {
    if (!MODELS[name]) throw new Error(`unknown model ${name}; known: ${Object.keys(MODELS)}`);
  }
  const images = JSON.parse(fs.readFileSync(listPath, "utf8"));

  await tf.setBackend("cpu");
  await tf.ready();

  const models = {};
  for (const name of names) models[name] = await classifyAll(name, images);

  const output = {
    nsfwjs: installedVersion("nsfwjs"),
    tfjs: installedVersion("@tensorflow/tfjs"),
    tfjs_core: tf.version_core,
    backend: tf.getBackend(),
    models,
  };
  process.stdout.write(JSON.stringify(output) + "\n");
}

main().catch((error) => {
  process.stderr.write(`classify.cjs: ${error.stack || error}\n`);
  process.exit(1);
});
