"""The word-embedding table in 8 bits: half the int8 model's bytes are this table.

onnxruntime's QEmbedLayerNormalization quantizes the table, the position table and the
LayerNorm's gamma and beta with one scale each, which cost more accuracy than all the int8
GEMMs together (measured on the probes). Here only the word table is quantized, in blocks of
EMBEDDING_BLOCK values per row (GatherBlockQuantized dequantizes just the rows a text uses),
and the sum and LayerNorm stay plain float ops, so the int8 rewrite can read the sum.
"""

from __future__ import annotations

import numpy as np

EMBEDDING_BLOCK = 128  # values per scale along a row (384 = 3 blocks)


def quantize_word_table(model) -> bool:
    """EmbedLayerNormalization without segments (export.tidy folds them) -> GatherBlockQuantized
    (uint8, block-wise) + position Slice + Add + LayerNormalization. False when the graph differs."""
    from onnx import helper, numpy_helper

    graph = model.graph
    embed = next((n for n in graph.node if n.op_type == "EmbedLayerNormalization"), None)
    inits = {i.name: i for i in graph.initializer}
    if embed is None or (len(embed.input) > 1 and embed.input[1]) or embed.input[2] not in inits or embed.input[3] not in inits:
        return False
    table = numpy_helper.to_array(inits[embed.input[2]]).astype(np.float32)
    vocab, dim = table.shape
    if dim % EMBEDDING_BLOCK:
        return False
    blocks = table.reshape(vocab, dim // EMBEDDING_BLOCK, EMBEDDING_BLOCK)
    scale = np.maximum(np.abs(blocks).max(axis=-1), 1e-30) / 127
    quantized = (np.clip(np.round(blocks / scale[..., None]), -127, 127) + 128).astype(np.uint8).reshape(vocab, dim)
    ids = next(i.name for i in graph.input if i.name == "input_ids")
    epsilon = next((a.f for a in embed.attribute if a.name == "epsilon"), 1e-12)
    new = [
        numpy_helper.from_array(quantized, "word_embeddings_uint8"),
        numpy_helper.from_array(scale.astype(np.float32), "word_embeddings_scale"),
        numpy_helper.from_array(np.full(scale.shape, 128, np.uint8), "word_embeddings_zero_point"),
        numpy_helper.from_array(np.array([0], np.int64), "embed_start"),
        numpy_helper.from_array(np.array([0], np.int64), "embed_axis"),
    ]
    graph.initializer.extend(new)
    nodes = [
        helper.make_node("GatherBlockQuantized", ["word_embeddings_uint8", ids, "word_embeddings_scale", "word_embeddings_zero_point"],
                         ["embed_words"], name="embed_words", domain="com.microsoft", gather_axis=0, quantize_axis=1,
                         block_size=EMBEDDING_BLOCK, bits=8),
        helper.make_node("Shape", [ids], ["embed_length"], name="embed_length", start=1, end=2),
        helper.make_node("Slice", [embed.input[3], "embed_start", "embed_length", "embed_axis"], ["embed_positions"], name="embed_positions"),
        helper.make_node("Add", ["embed_words", "embed_positions"], ["embed_sum"], name="embed_sum"),
        helper.make_node("LayerNormalization", ["embed_sum", embed.input[5], embed.input[6]], [embed.output[0]], name="embed_norm",
                         axis=-1, epsilon=epsilon),
    ]
    if len(embed.output) > 1 and embed.output[1]:  # its mask count, read by attention
        if len(embed.input) < 8 or not embed.input[7]:
            return False
        axis = numpy_helper.from_array(np.array([1], np.int64), "embed_mask_axis")
        graph.initializer.append(axis)
        nodes.append(helper.make_node("ReduceSum", [embed.input[7], "embed_mask_axis"], [embed.output[1]], name="embed_mask_count", keepdims=0))
    at = list(graph.node).index(embed)
    graph.node.remove(embed)
    for offset, node in enumerate(nodes):
        graph.node.insert(at + offset, node)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return True
