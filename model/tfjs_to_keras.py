"""Rebuild a Keras 3 model from a tfjs layers-model (model.json + binary shards).

The ``tensorflowjs`` pip package cannot be installed next to current
TensorFlow, so this module reads the tfjs files itself:

* ``model.json`` holds a Keras 2.2.4 functional topology (``modelTopology``)
  and a ``weightsManifest`` listing each weight's name, shape and uint8
  quantization (``value = q * scale + min``).
* The shards are the weights' bytes, concatenated in manifest order.

Weights are dequantized in float64 and only then rounded to float32, which
is what tfjs does (JS numbers are doubles, stored into a Float32Array);
dequantizing in float32 instead drifts by about 2e-5.

Each layer config is mapped to its Keras 3 layer by hand (only the layer
kinds and options that appear in nsfwjs's MobileNetV2 and InceptionV3 are
accepted; any
other option value is an error rather than a silent guess), the graph is
wired by walking ``inbound_nodes``, and every tfjs weight must be consumed
exactly once. TensorFlow is imported lazily so ``load_tfjs`` works without it.

``fold_batchnorm=True`` builds the model that gets converted to TFLite: each
(inference-only) BatchNormalization becomes ``x * multiplier + offset`` with
``multiplier = gamma / sqrt(variance + epsilon)`` and ``offset = beta - mean *
multiplier`` computed here in float64 and rounded once to float32, as tfjs
computes them (in doubles). Left to the converter, the fold would go through
TensorFlow's float32 ``Rsqrt`` kernel, which is an approximation (Eigen's AVX
path: the ``rsqrtps`` estimate plus one Newton step) whose last bits depend
on the CPU (``rsqrtps`` is only specified to a relative error of 1.5 *
2**-12): the converted weights differed by a few ulp, and the model's outputs
by 1.8e-6, between an Intel and an AMD build. With the fold in numpy, the
converter only multiplies the conv kernels by the multipliers (exactly
rounded float32 products), and the .tflite is the same on every x86 CPU.
The default (unfolded) model, with Keras's own BatchNormalization, is the
build's reference and what ``--keras-out`` saves.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

# bytes per element of the stored (possibly quantized) dtype
_WIDTH = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4, "int32": 4}


def load_tfjs(model_dir: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read model.json and its shards; return (model_json, {weight name: float32 array})."""
    model_dir = Path(model_dir)
    model_json = json.loads((model_dir / "model.json").read_text())
    weights: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        data = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = tuple(spec["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            stored = quant["dtype"] if quant else spec["dtype"]
            nbytes = count * _WIDTH[stored]
            raw = np.frombuffer(data, dtype=np.dtype(stored).newbyteorder("<"), count=count, offset=offset)
            offset += nbytes
            if quant:
                if stored not in ("uint8", "uint16") or spec["dtype"] != "float32":
                    raise ValueError(f"unsupported quantization for {spec['name']}: {quant}")
                values = (raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])).astype(np.float32)
            elif stored == "float32":
                values = raw.astype(np.float32)
            else:
                raise ValueError(f"unsupported weight dtype {stored} for {spec['name']}")
            if spec["name"] in weights:
                raise ValueError(f"duplicate weight {spec['name']}")
            weights[spec["name"]] = values.reshape(shape)
        if offset != len(data):
            raise ValueError(f"shards hold {len(data)} bytes, manifest needs {offset}")
    return model_json, weights


def fold_batchnorm(params: dict[str, np.ndarray], epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Inference-mode BatchNormalization as float32 (multiplier, offset), computed in float64.

    ``params`` holds ``moving_mean``, ``moving_variance`` and, when the layer
    has them, ``gamma`` and ``beta``. Only correctly rounded operations
    (+, -, *, /, sqrt) are used, so the result is the same on every CPU.
    """
    mean = params["moving_mean"].astype(np.float64)
    variance = params["moving_variance"].astype(np.float64)
    gamma = params["gamma"].astype(np.float64) if "gamma" in params else np.ones_like(variance)
    beta = params["beta"].astype(np.float64) if "beta" in params else np.zeros_like(mean)
    multiplier = gamma / np.sqrt(variance + float(epsilon))
    offset = beta - mean * multiplier
    return multiplier.astype(np.float32), offset.astype(np.float32)


@functools.cache
def _folded_batchnorm_class():
    from tensorflow import keras

    class FoldedBatchNormalization(keras.layers.Layer):
        """An inference-mode BatchNormalization, folded: ``x * multiplier + offset`` (see ``fold_batchnorm``)."""

        def __init__(self, epsilon: float, center: bool, scale: bool, **kwargs):
            super().__init__(**kwargs)
            self.epsilon, self.center, self.scale = epsilon, center, scale

        def build(self, input_shape):
            channels = (int(input_shape[-1]),)
            self.multiplier = self.add_weight(shape=channels, initializer="ones", trainable=False, name="multiplier")
            self.offset = self.add_weight(shape=channels, initializer="zeros", trainable=False, name="offset")

        def call(self, inputs):
            return inputs * self.multiplier + self.offset

        def tfjs_variables(self) -> set[str]:
            """The tfjs (Keras 2) variables this layer is folded from."""
            names = {"moving_mean", "moving_variance"}
            return names | ({"gamma"} if self.scale else set()) | ({"beta"} if self.center else set())

        def set_tfjs_weights(self, params: dict[str, np.ndarray]) -> None:
            self.set_weights(list(fold_batchnorm(params, self.epsilon)))

    return FoldedBatchNormalization


def _expect(layer: dict, key: str, allowed) -> None:
    value = layer["config"].get(key)
    if value not in allowed:
        raise ValueError(f"{layer['name']}: unsupported {key}={value!r}")


def _activation(layer: dict) -> str:
    _expect(layer, "activation", ("linear", "relu", "softmax"))
    return layer["config"]["activation"]


def _make_layer(layer: dict, fold_batchnorm: bool = False):
    """Keras 3 layer for one Keras 2.2.4 layer config (without weights)."""
    from tensorflow import keras

    kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
    if "data_format" in cfg:
        _expect(layer, "data_format", ("channels_last",))
    if kind == "ZeroPadding2D":
        return keras.layers.ZeroPadding2D(padding=tuple(map(tuple, cfg["padding"])), name=name)
    if kind == "Conv2D":
        _expect(layer, "dilation_rate", ([1, 1],))
        return keras.layers.Conv2D(
            filters=cfg["filters"],
            kernel_size=tuple(cfg["kernel_size"]),
            strides=tuple(cfg["strides"]),
            padding=cfg["padding"],
            activation=_activation(layer),
            use_bias=cfg["use_bias"],
            name=name,
        )
    if kind == "DepthwiseConv2D":
        # Old configs may carry "groups", which Keras 3 rejects: it is never passed.
        _expect(layer, "dilation_rate", ([1, 1],))
        return keras.layers.DepthwiseConv2D(
            kernel_size=tuple(cfg["kernel_size"]),
            strides=tuple(cfg["strides"]),
            padding=cfg["padding"],
            depth_multiplier=cfg["depth_multiplier"],
            activation=_activation(layer),
            use_bias=cfg["use_bias"],
            name=name,
        )
    if kind == "BatchNormalization":
        _expect(layer, "axis", (-1, 3))
        if fold_batchnorm:
            return _folded_batchnorm_class()(
                epsilon=cfg["epsilon"], center=cfg["center"], scale=cfg["scale"], name=name
            )
        return keras.layers.BatchNormalization(
            axis=-1,
            momentum=cfg["momentum"],
            epsilon=cfg["epsilon"],
            center=cfg["center"],
            scale=cfg["scale"],
            name=name,
        )
    if kind == "ReLU":
        return keras.layers.ReLU(
            max_value=cfg.get("max_value"),
            negative_slope=cfg.get("negative_slope", 0.0),
            threshold=cfg.get("threshold", 0.0),
            name=name,
        )
    if kind == "Activation":
        return keras.layers.Activation(_activation(layer), name=name)
    if kind == "Add":
        return keras.layers.Add(name=name)
    if kind == "Concatenate":
        _expect(layer, "axis", (-1, 3))
        return keras.layers.Concatenate(axis=-1, name=name)
    if kind == "MaxPooling2D":
        return keras.layers.MaxPooling2D(
            pool_size=tuple(cfg["pool_size"]), strides=tuple(cfg["strides"]), padding=cfg["padding"], name=name
        )
    if kind == "AveragePooling2D":
        return keras.layers.AveragePooling2D(
            pool_size=tuple(cfg["pool_size"]), strides=tuple(cfg["strides"]), padding=cfg["padding"], name=name
        )
    if kind == "Flatten":
        return keras.layers.Flatten(name=name)
    if kind == "Dense":
        return keras.layers.Dense(
            units=cfg["units"], activation=_activation(layer), use_bias=cfg["use_bias"], name=name
        )
    if kind == "Dropout":
        # Inference only: dropout is the identity, kept so layer names match tfjs.
        return keras.layers.Dropout(rate=cfg["rate"], name=name)
    raise ValueError(f"{name}: unsupported layer class {kind}")


# tfjs weight names (Keras 2) -> Keras 3 variable names, where they differ
_VARIABLE_ALIASES = {"depthwise_kernel": "kernel"}


def _assign_weights(layer, weights: dict[str, np.ndarray], used: set[str]) -> None:
    values = []
    by_name = {}
    for key in weights:
        owner, _, var = key.rpartition("/")
        if owner == layer.name:
            by_name[_VARIABLE_ALIASES.get(var, var)] = key
    if hasattr(layer, "set_tfjs_weights"):  # a folded BatchNormalization
        if set(by_name) != layer.tfjs_variables():
            raise ValueError(
                f"{layer.name}: tfjs has weights {sorted(by_name)}, expected {sorted(layer.tfjs_variables())}"
            )
        layer.set_tfjs_weights({var: weights[key] for var, key in by_name.items()})
        used.update(by_name.values())
        return
    for variable in layer.weights:
        key = by_name.get(variable.name)
        if key is None:
            raise ValueError(f"no tfjs weight for {layer.name}/{variable.name}")
        value = weights[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{key}: shape {value.shape} != Keras {tuple(variable.shape)}")
        values.append(value)
        used.add(key)
    if len(values) != len(by_name):
        raise ValueError(
            f"{layer.name}: tfjs has weights {sorted(by_name)}, Keras has {[v.name for v in layer.weights]}"
        )
    if values:
        layer.set_weights(values)


def build_keras_model(model_json: dict, weights: dict[str, np.ndarray], fold_batchnorm: bool = False):
    """Functional Keras 3 model equivalent to the tfjs layers-model.

    ``fold_batchnorm``: BatchNormalization layers as float64-folded
    ``x * multiplier + offset`` (the model to convert; see the module docstring).
    """
    from tensorflow import keras

    topology = model_json["modelTopology"]
    config = topology["model_config"]
    if config["class_name"] not in ("Model", "Functional"):
        raise ValueError(f"unsupported model class {config['class_name']}")
    config = config["config"]

    outputs: dict[str, list] = {}  # layer name -> output tensor of each node
    keras_layers = []
    for layer in config["layers"]:
        name, cfg = layer["name"], layer["config"]
        if layer["class_name"] == "InputLayer":
            shape = cfg["batch_input_shape"]
            outputs[name] = [keras.Input(shape=tuple(shape[1:]), dtype=cfg["dtype"], name=name)]
            continue
        built = _make_layer(layer, fold_batchnorm)
        keras_layers.append(built)
        outputs[name] = []
        for node in layer["inbound_nodes"]:
            args = []
            for inbound in node:
                src, node_index, tensor_index = inbound[0], inbound[1], inbound[2]
                if tensor_index != 0 or (len(inbound) > 3 and inbound[3]):
                    raise ValueError(f"{name}: unsupported inbound node {inbound}")
                args.append(outputs[src][node_index])
            outputs[name].append(built(args if len(args) > 1 else args[0]))

    def endpoints(refs):
        return [outputs[ref[0]][ref[1]] for ref in refs]

    ins, outs = endpoints(config["input_layers"]), endpoints(config["output_layers"])
    model = keras.Model(
        inputs=ins if len(ins) > 1 else ins[0], outputs=outs if len(outs) > 1 else outs[0], name=config["name"]
    )

    used: set[str] = set()
    for built in keras_layers:
        _assign_weights(built, weights, used)
    unused = sorted(set(weights) - used)
    if unused:
        raise ValueError(f"tfjs weights not used by any layer: {unused}")
    return model


def tfjs_to_keras(model_dir: str | Path, fold_batchnorm: bool = False):
    """Load a tfjs layers-model directory and return the Keras 3 model."""
    model_json, weights = load_tfjs(model_dir)
    return build_keras_model(model_json, weights, fold_batchnorm)
