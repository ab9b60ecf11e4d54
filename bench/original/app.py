"""The ORIGINAL design of this service, re-created for measurement only. Never deploy it.

Why it exists: issue 10's goal is "URL mode at concurrency 8 at least 10x the
original design measured in the same run", so ``bench/run.py`` starts this app
next to ours and reports the ratio. It re-creates the service the original
article describes (a Flask app that wraps GantMan's nsfw_model prediction code):

* ``POST /predict?url=...``: download the image with ``requests``, write the
  bytes to a temporary file (the ML library takes a path), load it with Keras'
  image utilities resized to 224x224 as nsfw_model's ``predict.py`` does
  (``load_img(path, target_size=(224, 224))``, ``img_to_array``, ``/ 255``),
  ``model.predict``, delete the file, return the five scores as JSON.
* ``GET /health``: ``{"status": "ok"}``.
* Run under gunicorn's default sync worker (``bench/service.py``
  ``OriginalService``), 2 x cores + 1 workers by default (``bench/run.py
  --original-workers``).

The weights are the ones we serve: the nsfwjs tfjs files in model/mobilenet_v2,
rebuilt as a Keras model by model/tfjs_to_keras.py when each worker starts
(nothing is downloaded). Choices made in the original's favour, so the
comparison is not against a strawman: ``predict(..., verbose=0)`` (the
tf.keras default when the article was written; Keras 3 would print a progress
bar per request), the temporary file is deleted on every path (try/finally),
and 2 x cores + 1 gunicorn workers (gunicorn's own advice for sync workers, and
faster here than one per core: a worker idles while it downloads and writes the
file) instead of the article's single default one.

What it deliberately does NOT do, because the original did not: no SSRF checks
(any URL, any address, redirects followed), no size, time or pixel limits on
the download or the decode, no error handling (a bad image is a 500). So it
must only ever be started by the benchmark or its test, bound to 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import requests
from flask import Flask, jsonify, request
from tensorflow import keras

MODEL_DIR = Path(__file__).resolve().parents[2] / "model"
sys.path.insert(0, str(MODEL_DIR))

from tfjs_to_keras import tfjs_to_keras  # noqa: E402  (needs MODEL_DIR on sys.path)

CATEGORIES = ("drawings", "hentai", "neutral", "porn", "sexy")
IMAGE_SIZE = (224, 224)

model = tfjs_to_keras(MODEL_DIR / "mobilenet_v2")
app = Flask(__name__)


def classify(path: str) -> dict[str, float]:
    """nsfw_model's predict.py for one image: Keras load (nearest-neighbour resize), /255, predict."""
    image = keras.preprocessing.image.load_img(path, target_size=IMAGE_SIZE)
    array = keras.preprocessing.image.img_to_array(image) / 255
    scores = model.predict(np.expand_dims(array, axis=0), verbose=0)[0]
    return {name: float(score) for name, score in zip(CATEGORIES, scores)}


@app.route("/predict", methods=["POST"])
def predict():
    response = requests.get(request.args["url"], timeout=30)
    handle, path = tempfile.mkstemp(prefix="nsfw-original-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(response.content)
        return jsonify(classify(path))
    finally:
        os.unlink(path)


@app.route("/health")
def health():
    return jsonify({"status": "ok"})
