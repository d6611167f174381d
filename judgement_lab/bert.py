"""bge-small-zh-v1.5 as a BERT in JAX: the weights read from the fp32 ONNX file, a forward pass that
reproduces its `last_hidden_state`, and a classification head for fine-tuning (`finetune.py`).

Training-only code: it imports jax and onnx (the `train` extra); the workers never import it.

The ONNX graph holds biases and LayerNorms by their BERT names and the weight matrices as anonymous
initialisers (`onnx::MatMul_541` …); each matrix is named here by the bias its MatMul's output is added to,
so no ordering is assumed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.typing import ArrayLike

Params = dict[str, Any]

HIDDEN = 512
HEADS = 8
LAYERS = 4
LN_EPS = 1e-12
_MATRICES = ("attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense", "intermediate.dense", "output.dense")  # fmt: skip


def _onnx_names(graph: Any) -> dict[str, str]:
    """BERT name of each initialiser → its name in the graph."""
    inits = {i.name for i in graph.initializer}
    names = {n: n for n in inits if not n.startswith("onnx::")}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        weights = [i for i in node.input if i in inits and i.startswith("onnx::")]
        if not weights:
            continue
        biases = [
            i
            for add in consumers.get(node.output[0], [])
            if add.op_type == "Add"
            for i in add.input
            if i.endswith(".bias") and i in inits
        ]
        if len(biases) != 1:
            raise ValueError(f"MatMul {node.name} is not followed by one bias Add")
        names[biases[0].removesuffix(".bias") + ".weight"] = weights[0]
    missing = [
        f"encoder.layer.{n}.{m}.weight"
        for n in range(LAYERS)
        for m in _MATRICES
        if f"encoder.layer.{n}.{m}.weight" not in names
    ]
    if missing:
        raise ValueError(f"weights not found in the graph: {missing[:3]}")
    return names


def load_onnx_weights(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    """Every initialiser of the ONNX file by BERT name (matrices as `<module>.weight`, shape in × out)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {i.name: numpy_helper.to_array(i).astype(np.float32) for i in graph.initializer}
    return {bert: arrays[name] for bert, name in _onnx_names(graph).items()}


def bert_weights(params: Params) -> dict[str, npt.NDArray[np.float32]]:
    """Inverse of encoder_params: the encoder's parameters by BERT name (token_type row 1 is not trained
    and is left out)."""
    out = {
        "embeddings.word_embeddings.weight": np.asarray(params["word"]),
        "embeddings.position_embeddings.weight": np.asarray(params["position"]),
        "embeddings.LayerNorm.weight": np.asarray(params["emb_norm"]["g"]),
        "embeddings.LayerNorm.bias": np.asarray(params["emb_norm"]["b"]),
    }
    for n, layer in enumerate(params["layers"]):
        p = f"encoder.layer.{n}"
        qkv_w, qkv_b = np.asarray(layer["qkv"]["w"]), np.asarray(layer["qkv"]["b"])
        for j, x in enumerate(("query", "key", "value")):
            out[f"{p}.attention.self.{x}.weight"] = qkv_w[:, j * HIDDEN : (j + 1) * HIDDEN]
            out[f"{p}.attention.self.{x}.bias"] = qkv_b[j * HIDDEN : (j + 1) * HIDDEN]
        for key, name in (("attn_out", "attention.output.dense"), ("ffn_in", "intermediate.dense"),
                          ("ffn_out", "output.dense")):  # fmt: skip
            out[f"{p}.{name}.weight"] = np.asarray(layer[key]["w"])
            out[f"{p}.{name}.bias"] = np.asarray(layer[key]["b"])
        for key, name in (("attn_norm", "attention.output.LayerNorm"), ("ffn_norm", "output.LayerNorm")):
            out[f"{p}.{name}.weight"] = np.asarray(layer[key]["g"])
            out[f"{p}.{name}.bias"] = np.asarray(layer[key]["b"])
    return out


def export_onnx(params: Params, base: Path, out: Path) -> None:
    """The base ONNX graph with the fine-tuned weights and the head: a second output `logits` (batch ×
    classes) from the [CLS] row of `last_hidden_state`, for onnxruntime at run time."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(base))
    graph = model.graph
    weights = bert_weights(params["encoder"])
    weights["embeddings.token_type_embeddings.weight"] = np.stack(
        [np.asarray(params["encoder"]["token_type"]), np.asarray(params["encoder"]["token_type"])]
    )
    by_graph_name = {name: weights[bert] for bert, name in _onnx_names(graph).items()}
    for init in graph.initializer:
        value = by_graph_name[init.name].astype(np.float32)
        if tuple(init.dims) != value.shape:
            raise ValueError(f"{init.name}: shape {value.shape}, graph has {tuple(init.dims)}")
        init.CopyFrom(numpy_helper.from_array(value, init.name))
    head_w, head_b = np.asarray(params["head"]["w"]), np.asarray(params["head"]["b"])
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(0, dtype=np.int64), "head.cls_index"),
            numpy_helper.from_array(head_w.astype(np.float32), "head.weight"),
            numpy_helper.from_array(head_b.astype(np.float32), "head.bias"),
        ]
    )
    graph.node.extend(
        [
            # a 0-d index drops the position axis: (batch, hidden)
            helper.make_node("Gather", ["last_hidden_state", "head.cls_index"], ["head.cls"], axis=1),
            helper.make_node("MatMul", ["head.cls", "head.weight"], ["head.scores"]),
            helper.make_node("Add", ["head.scores", "head.bias"], ["logits"]),
        ]
    )
    graph.output.append(
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", head_w.shape[1]])
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


def encoder_params(weights: dict[str, npt.NDArray[np.float32]]) -> Params:
    """The nested parameter tree the forward pass reads (jnp arrays)."""

    def dense(prefix: str) -> dict[str, jax.Array]:
        return {"w": jnp.asarray(weights[f"{prefix}.weight"]), "b": jnp.asarray(weights[f"{prefix}.bias"])}

    def norm(prefix: str) -> dict[str, jax.Array]:
        return {"g": jnp.asarray(weights[f"{prefix}.weight"]), "b": jnp.asarray(weights[f"{prefix}.bias"])}

    layers = []
    for n in range(LAYERS):
        p = f"encoder.layer.{n}"
        q, k, v = (weights[f"{p}.attention.self.{x}.weight"] for x in ("query", "key", "value"))
        qb, kb, vb = (weights[f"{p}.attention.self.{x}.bias"] for x in ("query", "key", "value"))
        layers.append(
            {
                "qkv": {
                    "w": jnp.asarray(np.concatenate([q, k, v], 1)),
                    "b": jnp.asarray(np.concatenate([qb, kb, vb])),
                },
                "attn_out": dense(f"{p}.attention.output.dense"),
                "attn_norm": norm(f"{p}.attention.output.LayerNorm"),
                "ffn_in": dense(f"{p}.intermediate.dense"),
                "ffn_out": dense(f"{p}.output.dense"),
                "ffn_norm": norm(f"{p}.output.LayerNorm"),
            }
        )
    return {
        "word": jnp.asarray(weights["embeddings.word_embeddings.weight"]),
        "position": jnp.asarray(weights["embeddings.position_embeddings.weight"]),
        # token_type_ids are always 0 here: only the first row is used
        "token_type": jnp.asarray(weights["embeddings.token_type_embeddings.weight"][0]),
        "emb_norm": norm("embeddings.LayerNorm"),
        "layers": layers,
    }


def _layer_norm(x: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + LN_EPS) * p["g"] + p["b"]


def _gelu(x: jax.Array) -> jax.Array:
    return 0.5 * x * (1.0 + jax.lax.erf(x / math.sqrt(2.0)))


def hidden_states(
    params: Params,
    input_ids: ArrayLike,
    mask: ArrayLike,
    *,
    dropout: float = 0.0,
    rng: jax.Array | None = None,
) -> jax.Array:
    """`last_hidden_state` (batch, length, 512) of the encoder; `mask` is 1 for real tokens, 0 for padding.
    With `dropout` > 0 and an `rng`, BERT's dropout (after embeddings, attention probabilities and each
    residual branch) is applied, as in training."""
    input_ids, mask = jnp.asarray(input_ids), jnp.asarray(mask)
    batch, length = input_ids.shape
    keys = iter(jax.random.split(rng, 4 * LAYERS + 1)) if rng is not None and dropout > 0 else None

    def drop(x: jax.Array) -> jax.Array:
        if keys is None:
            return x
        keep = jax.random.bernoulli(next(keys), 1.0 - dropout, x.shape)
        return jnp.where(keep, x / (1.0 - dropout), 0.0)

    x = params["word"][input_ids] + params["position"][:length][None] + params["token_type"]
    x = drop(_layer_norm(x, params["emb_norm"]))
    bias = jnp.where(mask[:, None, None, :] > 0, 0.0, float(np.finfo(np.float32).min))
    head = HIDDEN // HEADS
    for layer in params["layers"]:
        qkv = x @ layer["qkv"]["w"] + layer["qkv"]["b"]
        qkv = qkv.reshape(batch, length, 3, HEADS, head)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(head) + bias
        probs = drop(jax.nn.softmax(scores, axis=-1))
        ctx = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(batch, length, HIDDEN)
        attn = ctx @ layer["attn_out"]["w"] + layer["attn_out"]["b"]
        x = _layer_norm(x + drop(attn), layer["attn_norm"])
        ffn = (
            _gelu(x @ layer["ffn_in"]["w"] + layer["ffn_in"]["b"]) @ layer["ffn_out"]["w"]
            + layer["ffn_out"]["b"]
        )
        x = _layer_norm(x + drop(ffn), layer["ffn_norm"])
    return x


def classifier_logits(
    params: Params,
    input_ids: ArrayLike,
    mask: ArrayLike,
    *,
    dropout: float = 0.0,
    rng: jax.Array | None = None,
) -> jax.Array:
    """Class scores from the [CLS] row: `params` = {"encoder": …, "head": {"w", "b"}}."""
    cls_rng = head_rng = None
    if rng is not None:
        cls_rng, head_rng = jax.random.split(rng)
    h = hidden_states(params["encoder"], input_ids, mask, dropout=dropout, rng=cls_rng)[:, 0]
    if head_rng is not None and dropout > 0:
        keep = jax.random.bernoulli(head_rng, 1.0 - dropout, h.shape)
        h = jnp.where(keep, h / (1.0 - dropout), 0.0)
    logits: jax.Array = h @ params["head"]["w"] + params["head"]["b"]
    return logits
