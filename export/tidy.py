"""Fewer nodes around the encoder, same function: on one core a short query pays about a
microsecond per node executed, whatever the node computes, so the export's scaffolding costs
as much as a layer's arithmetic.

- token type ids: the export builds an all-zero segment tensor from the input's shape (nine
  nodes) only to add row 0 of the segment table; that row is folded into the position table.
- attention mask: EmbedLayerNormalization counts each row's tokens itself when given the mask.
- pooling: mean over the mask, then L2 normalization. The division by the token count cancels in
  the normalization, so the pooled vector is one masked sum (Einsum) and a normalization.
Nodes left without a consumer are dropped. Each step checks the pattern it rewrites and leaves
a graph it does not recognise as it is; the parity gate checks the result.
"""

from __future__ import annotations

import numpy as np

NORM_EPSILON = 1e-12  # sentence-transformers' Normalize: x / max(||x||, 1e-12)


def _init(model, name):
    from onnx import numpy_helper

    return next((numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name), None)


def _set_init(model, name, array):
    from onnx import numpy_helper

    for i in model.graph.initializer:
        if i.name == name:
            i.CopyFrom(numpy_helper.from_array(np.asarray(array), name))
            return name
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
    return name


def _constant_source(model, name: str):
    """The initializer a tensor is sliced, expanded or cast from, if it comes from one alone."""
    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name for i in model.graph.initializer}
    while name not in inits:
        node = producers.get(name)
        if node is None or node.op_type not in ("Cast", "Expand", "Slice", "Unsqueeze", "Reshape"):
            return None
        name = node.input[0]
    return _init(model, name)


def fold_segments(model) -> bool:
    """EmbedLayerNormalization with all-zero segment ids: segment row 0 goes into the position
    table and the segment inputs go; its own mask count replaces a ReduceSum."""
    embed = next((n for n in model.graph.node if n.op_type == "EmbedLayerNormalization"), None)
    if embed is None or len(embed.input) < 5 or not embed.input[1]:
        return False
    segments = _constant_source(model, embed.input[1])
    segment_table, positions = _init(model, embed.input[4]), _init(model, embed.input[3])
    if segments is None or segments.any() or segment_table is None or positions is None:
        return False
    _set_init(model, embed.input[3] + "_with_segment0", (positions + segment_table[0]).astype(positions.dtype))
    embed.input[3] = embed.input[3] + "_with_segment0"
    embed.input[1] = embed.input[4] = ""
    mask_sum = next((n for n in model.graph.node if n.op_type == "ReduceSum" and n.output[0].startswith("mask_index")), None)
    if mask_sum is not None and len(embed.input) == 7 and len(embed.output) >= 2:
        embed.input.append(mask_sum.input[0])  # the int32 mask
        for node in model.graph.node:
            for i, name in enumerate(node.input):
                if name == mask_sum.output[0]:
                    node.input[i] = embed.output[1]
    return True


def simplify_pooling(model, hidden: str = "token_embeddings", output: str = "sentence_embedding") -> bool:
    """Masked mean then L2 normalization -> Einsum(mask, hidden) then L2 normalization."""
    from onnx import TensorProto, helper

    users = [n for n in model.graph.node if hidden in n.input]
    final = next((n for n in model.graph.node if output in n.output), None)
    if not users or {n.op_type for n in users} - {"Shape", "Mul"} or final is None or final.op_type != "Div":
        return False
    if not any(n.op_type == "ReduceSum" for n in model.graph.node) or not any(n.op_type == "ReduceL2" for n in model.graph.node):
        return False
    model.graph.node.remove(final)
    mask = next(i.name for i in model.graph.input if i.name == "attention_mask")
    axes = _set_init(model, "pool_last_axis", np.array([-1], np.int64))
    eps = _set_init(model, "pool_epsilon", np.array(NORM_EPSILON, np.float32))
    model.graph.node.extend([
        helper.make_node("Cast", [mask], ["pool_mask"], name="pool_mask", to=TensorProto.FLOAT),
        helper.make_node("Einsum", ["pool_mask", hidden], ["pool_sum"], name="pool_sum", equation="bs,bsd->bd"),
        helper.make_node("ReduceL2", ["pool_sum", axes], ["pool_norm"], name="pool_norm", keepdims=1),
        helper.make_node("Max", ["pool_norm", eps], ["pool_safe_norm"], name="pool_safe_norm"),
        helper.make_node("Div", ["pool_sum", "pool_safe_norm"], [output], name="pool_normalize"),
    ])
    return True


def drop_dead_nodes(model) -> None:
    needed = {o.name for o in model.graph.output}
    kept = []
    for node in reversed(list(model.graph.node)):
        if any(o in needed for o in node.output if o):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    inits = [i for i in model.graph.initializer if i.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)


def tidy(model) -> list[str]:
    """Apply every step in place; returns the names of those that applied."""
    applied = [name for name, step in (("segments", fold_segments), ("pooling", simplify_pooling)) if step(model)]
    drop_dead_nodes(model)
    return applied
