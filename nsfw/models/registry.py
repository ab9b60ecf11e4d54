"""Which models this worker serves, loaded once each after the fork.

``NSFW_MODELS`` names the shipped models to serve (the first is the default);
``NSFW_MODEL_PATH`` adds a model of the operator's own, served as ``custom``.
A ``.tflite`` runs on LiteRT like the shipped ones; a Keras file or a
SavedModel directory runs on TensorFlow, which is imported only then.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from nsfw.errors import ModelError, UnknownModel
from nsfw.models import manifest as manifest_file
from nsfw.models.runner import Model, ModelSpec, Runner
from nsfw.settings import Settings

CUSTOM = "custom"


class ModelRegistry:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.names: tuple[str, ...] = settings.models
        self.default: str = settings.models[0]
        self._loaded: dict[str, Runner] = {}
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return len(self._loaded) == len(self.names)

    def get(self, name: str | None = None) -> Runner:
        """The loaded model called ``name`` (the default when None), loading it on first use."""
        name = name or self.default
        model = self._loaded.get(name)
        if model is not None:
            return model
        if name not in self.names:
            raise UnknownModel(f"unknown model {name!r}; this service serves {', '.join(self.names)}")
        with self._lock:
            if name not in self._loaded:
                model = self._create(name)
                model.load()
                self._loaded[name] = model
        return self._loaded[name]

    def load_all(self) -> None:
        for name in self.names:
            self.get(name)

    def describe(self) -> list[dict[str, Any]]:
        """What /v1/models shows: each served model's input, classes, provenance and checksum."""
        manifest = manifest_file.read_or_empty(self.settings.model_dir)
        described = []
        for name in self.names:
            spec = self.get(name).spec
            entry: dict[str, Any] = {
                "name": name,
                "default": name == self.default,
                "input_size": spec.input_size,
                "classes": list(spec.classes),
                "sha256": spec.sha256,
            }
            if name == CUSTOM:
                entry["description"] = "the operator's own model (NSFW_MODEL_PATH)"
                entry["accuracy"] = ""
                entry["provenance"] = {"source": "NSFW_MODEL_PATH", "file": Path(spec.path).name}
            else:
                about = manifest.get("models", {}).get(name, {})
                entry["description"] = about.get("description", "")
                entry["accuracy"] = about.get("accuracy_note", "")
                entry["provenance"] = {
                    "source": manifest.get("source", {}),
                    "licenses": manifest.get("licenses", []),
                }
            described.append(entry)
        return described

    def _create(self, name: str) -> Runner:
        settings = self.settings
        if name != CUSTOM:
            spec = ModelSpec.from_manifest(settings.model_dir, name)
            return Model(spec, threads=settings.inference_threads, pool_size=settings.interpreters)
        if settings.model_path is None:
            raise ModelError("the custom model needs NSFW_MODEL_PATH")
        path = Path(settings.model_path)
        if not path.exists():
            raise ModelError(f"NSFW_MODEL_PATH {path} does not exist")
        spec = ModelSpec(
            name=CUSTOM,
            path=path,
            classes=tuple(settings.model_classes),
            input_size=settings.model_input_size,
            sha256=_file_sha256(path) if path.is_file() else None,
        )
        if path.suffix == ".tflite":
            return Model(spec, threads=settings.inference_threads, pool_size=settings.interpreters)
        if path.is_dir() or path.suffix in (".keras", ".h5"):
            from nsfw.models.tensorflow_runner import TensorFlowModel

            return TensorFlowModel(spec)
        raise ModelError(f"NSFW_MODEL_PATH {path}: expected a .tflite, .keras, .h5 or SavedModel directory")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
