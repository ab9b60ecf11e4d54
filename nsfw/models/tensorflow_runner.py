"""Bring-your-own Keras (.keras, .h5) or SavedModel models, run on TensorFlow.

Only imported when NSFW_MODEL_PATH names such a model: TensorFlow costs about
650 MB per process and 16-25 ms per image, and hangs in a forked child if it
was initialised in the parent, so it is loaded after the fork like every
model. Inference goes through one traced ``tf.function`` (or the SavedModel's
serving signature), never ``Model.predict`` per request, which rebuilds its
data pipeline on every call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nsfw.errors import ModelError
from nsfw.models.runner import ModelSpec, Runner


class TensorFlowModel(Runner):
    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self._call: Callable[[np.ndarray], Any] | None = None

    def load(self) -> None:
        import tensorflow as tf

        path = Path(self.spec.path)
        try:
            if path.is_dir():
                loaded = tf.saved_model.load(str(path))
                serve = loaded.signatures["serving_default"]
                (spec,) = serve.structured_input_signature[1].values()
                size = self._size(spec.shape)

                def forward(x: Any) -> Any:
                    outputs = serve(x)
                    return outputs[sorted(outputs)[0]]

            else:
                import keras  # type: ignore[import-untyped]

                loaded = keras.models.load_model(str(path), compile=False)
                size = self._size(loaded.input_shape)

                def forward(x: Any) -> Any:
                    return loaded(x, training=False)

            self._keep = loaded  # the traced function needs its model alive
            signature = [tf.TensorSpec([None, size, size, 3], tf.float32)]
            self._call = tf.function(forward, input_signature=signature)
            probs = self.predict(np.zeros((1, size, size, 3), dtype=np.float32))
        except ModelError:
            raise
        except Exception as exc:  # TensorFlow raises many kinds for unusable files
            raise ModelError(f"cannot load {path} with TensorFlow: {exc}") from None
        if probs.shape != (len(self.spec.classes),):
            raise ModelError(
                f"{path} outputs {probs.shape[0]} scores but NSFW_MODEL_CLASSES names {len(self.spec.classes)} classes"
            )

    def _size(self, shape: Any) -> int:
        """The configured input size, else the model's own (NHWC, square)."""
        size = self.spec.input_size or (shape[1] if len(shape) == 4 else None)
        if not size:
            raise ModelError(f"cannot tell the input size of {self.spec.path}: set NSFW_MODEL_INPUT_SIZE")
        self.spec = dataclasses.replace(self.spec, input_size=int(size))
        return int(size)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        assert self._call is not None, "load() first"
        probs: np.ndarray = np.asarray(self._call(batch))[0].astype(np.float32)
        return probs
