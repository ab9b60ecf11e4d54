"""Rebuild a TensorFlow function from a tfjs graph-model (model.json + binary shards).

A tfjs graph-model's ``modelTopology`` is a TensorFlow GraphDef in protobuf
JSON form whose Const nodes carry no values: the values are the weights in
the shards (read and dequantized by ``tfjs_to_keras.load_tfjs``: ``q * scale
+ min`` in float64, then float32, as tfjs does).

The tfjs converter rewrote the graph with fused ops. Two of them are not
stock TensorFlow ops and none of them is a TFLite builtin, so this module
builds two GraphDefs from the same nodes:

* ``reference_graph_def``: the graph as tfjs runs it, made importable by
  TensorFlow (``FusedDepthwiseConv2dNative`` -> TensorFlow's internal
  ``_FusedDepthwiseConv2dNative``; ``_FusedConv2D`` gets its ``TArgs``
  attribute). TensorFlow's fused kernels execute it: the build's reference.
* ``plain_graph_def``: every fused op split back into its stock parts
  (``Conv2D``/``DepthwiseConv2dNative``/``MatMul`` -> ``BiasAdd`` ->
  ``Relu``/``Relu6``), the last part keeping the fused node's name so its
  consumers are unchanged. This is what gets converted to TFLite.

Only the op kinds and options found in nsfwjs's MobileNetV2Mid are accepted;
anything else is an error rather than a guess. Every Const must have a
weight and every weight must be used. TensorFlow is imported lazily.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import numpy as np
from tfjs_to_keras import load_tfjs

_FUSED = {  # tfjs fused op -> (stock op, attributes the stock op keeps)
    "_FusedConv2D": (
        "Conv2D",
        ("T", "data_format", "dilations", "explicit_paddings", "padding", "strides", "use_cudnn_on_gpu"),
    ),
    "FusedDepthwiseConv2dNative": ("DepthwiseConv2dNative", ("T", "data_format", "dilations", "padding", "strides")),
    "_FusedMatMul": ("MatMul", ("T", "transpose_a", "transpose_b")),
}
_ACTIVATIONS = ("Relu", "Relu6")
_PLAIN_OPS = {"Placeholder", "Const", "Mul", "Sub", "AddV2", "AvgPool", "Squeeze", "Softmax", "Identity"}


def _fused_ops(node: dict) -> list[str]:
    encoded = node["attr"].get("fused_ops", {}).get("list", {}).get("s", [])
    return [base64.b64decode(item).decode("ascii") for item in encoded]


def _check_fused(node: dict) -> list[str]:
    ops = _fused_ops(node)
    attr = node["attr"]
    if (
        not ops
        or ops[0] != "BiasAdd"
        or len(ops) > 2
        or (len(ops) == 2 and ops[1] not in _ACTIVATIONS)
        or int(attr.get("num_args", {}).get("i", "0")) != 1
        or len(node["input"]) != 3
    ):
        raise ValueError(f"{node['name']}: unsupported fusion {node['op']} {ops}")
    data_format = base64.b64decode(attr.get("data_format", {}).get("s", "TkhXQw==")).decode()
    if data_format != "NHWC":
        raise ValueError(f"{node['name']}: unsupported data_format {data_format}")
    return ops


def _const_value(node: dict, weights: dict[str, np.ndarray], used: set[str]) -> dict:
    import tensorflow as tf
    from google.protobuf import json_format

    if node["name"] not in weights:
        raise ValueError(f"Const {node['name']} has no weight in the shards")
    if node["attr"]["dtype"]["type"] != "DT_FLOAT":
        raise ValueError(f"Const {node['name']}: unsupported dtype {node['attr']['dtype']}")
    used.add(node["name"])
    proto = tf.make_tensor_proto(weights[node["name"]], dtype=np.float32)
    return {"tensor": json_format.MessageToDict(proto)}


def _graph_def(model_json: dict, weights: dict[str, np.ndarray], split_fused: bool):
    import tensorflow as tf
    from google.protobuf import json_format

    nodes_out = []
    used: set[str] = set()
    for node in model_json["modelTopology"]["node"]:
        node = copy.deepcopy(node)
        node.setdefault("attr", {})
        node.pop("device", None)
        op = node["op"]
        if op == "Const":
            node["attr"]["value"] = _const_value(node, weights, used)
            nodes_out.append(node)
        elif op in _FUSED:
            fused = _check_fused(node)
            if split_fused:
                nodes_out.extend(_split(node, fused))
            else:
                if op == "FusedDepthwiseConv2dNative":
                    node["op"] = "_FusedDepthwiseConv2dNative"
                if op == "_FusedConv2D":
                    node["attr"]["TArgs"] = {"list": {"type": ["DT_FLOAT"]}}
                nodes_out.append(node)
        elif op in _PLAIN_OPS:
            nodes_out.append(node)
        else:
            raise ValueError(f"{node['name']}: unsupported op {op}")
    unused = sorted(set(weights) - used)
    if unused:
        raise ValueError(f"tfjs weights not used by any Const: {unused}")
    graph_def = tf.compat.v1.GraphDef()
    json_format.ParseDict({"node": nodes_out, "versions": model_json["modelTopology"].get("versions", {})}, graph_def)
    return graph_def


def _split(node: dict, fused: list[str]) -> list[dict]:
    """One fused node -> its stock ops; the last one keeps the node's name."""
    stock, keep = _FUSED[node["op"]]
    name, (x, w, b) = node["name"], node["input"]
    attr = {k: v for k, v in node["attr"].items() if k in keep}
    t = {"T": node["attr"]["T"]}
    bias_attr = {**t, "data_format": {"s": base64.b64encode(b"NHWC").decode()}}
    parts = [
        {"name": f"{name}/tfjs_{stock}", "op": stock, "input": [x, w], "attr": attr},
        {"name": f"{name}/tfjs_BiasAdd", "op": "BiasAdd", "input": [f"{name}/tfjs_{stock}", b], "attr": bias_attr},
    ]
    if len(fused) == 2:
        parts.append({"name": name, "op": fused[1], "input": [parts[-1]["name"]], "attr": t})
    else:
        parts[-1]["name"] = name
    return parts


def _endpoints(model_json: dict) -> tuple[str, list[int], str]:
    signature = model_json["userDefinedMetadata"]["signature"]
    ((inp, spec),) = signature["inputs"].items()
    ((out, _),) = signature["outputs"].items()
    shape = [int(d["size"]) for d in spec["tensorShape"]["dim"]]
    return inp, shape, out


def graph_function(model_dir: str | Path, split_fused: bool = True):
    """A concrete TF function: float32 NHWC batch -> the graph-model's output.

    The weights are constants of the function's graph (not variables), so the
    TFLite converter cannot leave them out.
    """
    import tensorflow as tf

    model_json, weights = load_tfjs(model_dir)
    graph_def = _graph_def(model_json, weights, split_fused)
    inp, shape, out = _endpoints(model_json)

    def imported():
        tf.graph_util.import_graph_def(graph_def, name="")

    # Import everything, then prune to input -> output: an unfed Placeholder
    # left in the function's graph would fail every call.
    wrapped = tf.compat.v1.wrap_function(imported, [])
    if [d if d > 0 else None for d in shape] != wrapped.graph.get_tensor_by_name(inp).shape:
        raise ValueError(f"{inp}: placeholder shape differs from the signature's {shape}")
    return wrapped.prune(feeds=wrapped.graph.get_tensor_by_name(inp), fetches=wrapped.graph.get_tensor_by_name(out))


def weight_count(model_dir: str | Path) -> int:
    """Number of float weights in the tfjs files (to check a converted model holds them)."""
    _, weights = load_tfjs(model_dir)
    return sum(int(w.size) for w in weights.values())
