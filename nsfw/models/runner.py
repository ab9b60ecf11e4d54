"""Run the shipped float32 .tflite model with LiteRT.

LiteRT (XNNPACK) needs about 3-6 ms and 80 MB per process where TensorFlow
needs 16-25 ms and 650 MB, so TensorFlow never appears on the serving path.
A LiteRT interpreter is not thread-safe: each call borrows one interpreter
from a small pool, so gunicorn's threads never share one mid-inference.
Interpreters are created lazily after the fork (TensorFlow-family runtimes
can hang when their threads were created in the parent).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nsfw.errors import ModelError
from nsfw.models import manifest as manifest_file


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path
    classes: tuple[str, ...]
    input_size: int | None  # None: read it from the model file
    sha256: str | None = None

    @classmethod
    def from_manifest(cls, model_dir: Path, name: str = "mobilenet_v2") -> ModelSpec:
        """Read class order, input size and checksum of model ``name`` from ``manifest.json``.

        The manifest lists every model the build knows under ``"models"`` and the
        sha256 of every file under ``"files"``; optional models (built locally by
        ``model/build.py --model NAME``, never committed) may be absent.
        """
        manifest_path = manifest_file.path(model_dir)
        try:
            manifest = manifest_file.read(model_dir)
            models = manifest["models"]
            if name not in models:
                raise KeyError(f"no model {name!r} in the manifest (it has {sorted(models)})")
            entry = models[name]
            file = entry["file"]
            recorded = manifest["files"][file]
            spec = cls(
                name=name,
                path=Path(model_dir) / file,
                classes=tuple(entry["classes"]),
                input_size=int(entry["input"]["size"]),
                sha256=recorded["sha256"],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read model {name!r} from {manifest_path}: {exc}") from None
        if spec.sha256 is None or not spec.path.is_file():
            command = (entry.get("build") or {}).get("command") or f"python model/build.py --model {name}"
            raise ModelError(
                f"model {name!r} is not built ({spec.path} is missing or has no recorded checksum); run `{command}`"
                " (it needs Node.js and npm, to fetch nsfwjs, and TensorFlow, from requirements-dev.txt)"
            )
        return spec

    def verify(self) -> None:
        """Refuse to serve a model file that differs from the one the manifest describes."""
        if self.sha256 is None:
            return
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ModelError(f"{self.path} has sha256 {digest}, manifest says {self.sha256}")


class Runner:
    """What the pipeline needs of a loaded model, whatever runs it."""

    spec: ModelSpec

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def input_size(self) -> int:
        assert self.spec.input_size is not None, "known once the model is loaded"
        return self.spec.input_size

    def load(self) -> None:
        raise NotImplementedError

    def predict(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Model(Runner):
    """One model, served from a pool of LiteRT interpreters."""

    def __init__(self, spec: ModelSpec, threads: int = 1, pool_size: int = 1):
        self.spec = spec
        self._threads = threads
        self._pool_size = max(1, pool_size)
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()

    def load(self) -> None:
        """Check the file and its shape, then warm one interpreter with one inference."""
        try:
            self.spec.verify()
        except OSError as exc:
            raise ModelError(f"cannot read {self.spec.path}: {exc}") from None
        interpreter = self._borrow()
        try:
            self._check_shape(interpreter)
        finally:
            self._idle.put(interpreter)
        self.predict(np.zeros((1, self.input_size, self.input_size, 3), dtype=np.float32))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 (1, size, size, 3) in [0, 1] -> float32 probabilities in class order."""
        interpreter = self._borrow()
        try:
            interpreter.set_tensor(self._input_index, batch)
            interpreter.invoke()
            probs: np.ndarray = interpreter.get_tensor(self._output_index)[0].copy()
            return probs
        finally:
            self._idle.put(interpreter)

    def _check_shape(self, interpreter: Any) -> None:
        """The model must take NxSxSx3 and give one score per configured class."""
        (inp,) = interpreter.get_input_details()
        out = interpreter.get_output_details()[0]
        shape, classes = tuple(inp["shape"]), len(self.spec.classes)
        if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
            raise ModelError(f"{self.spec.path} takes input {shape}; expected N x S x S x 3")
        if self.spec.input_size not in (None, shape[1]):
            raise ModelError(f"{self.spec.path} takes {shape[1]}x{shape[1]} images, not {self.spec.input_size}")
        if out["shape"][-1] != classes:
            raise ModelError(f"{self.spec.path} gives {out['shape'][-1]} scores but {classes} classes are configured")
        self.spec = dataclasses.replace(self.spec, input_size=int(shape[1]))
        self._input_index, self._output_index = inp["index"], out["index"]

    def _borrow(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            create = self._created < self._pool_size
            if create:
                self._created += 1
        if create:
            try:
                return self._new_interpreter()
            except Exception:
                with self._lock:
                    self._created -= 1
                raise
        return self._idle.get()

    def _new_interpreter(self) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        try:
            with _without_litert_info():
                interpreter = Interpreter(model_path=str(self.spec.path), num_threads=self._threads)
                interpreter.allocate_tensors()
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load {self.spec.path}: {exc}") from None
        return interpreter


# LiteRT's native logger writes "INFO: Created TensorFlow Lite XNNPACK delegate
# for CPU." straight to file descriptor 2 when the first interpreter of a
# process allocates its tensors. ai-edge-litert 2.3.0 exports no way to raise
# that logger's level, and TF_CPP_MIN_LOG_LEVEL does not reach it, so fd 2 is
# pointed at a temporary file while an interpreter is created, and everything
# written there except the logger's INFO lines (warnings, errors, other
# threads' output) is copied back to the real stderr afterwards.
_STDERR_LOCK = threading.Lock()
_LITERT_INFO = b"INFO: "


@contextlib.contextmanager
def _without_litert_info() -> Iterator[None]:
    try:
        held = tempfile.TemporaryFile()
    except OSError:  # no writable temp dir: let the line through rather than fail
        held = None
    if held is None:
        yield
        return
    with _STDERR_LOCK, held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = memoryview(b"".join(line for line in held if not line.startswith(_LITERT_INFO)))
            while kept:
                kept = kept[os.write(2, kept) :]
