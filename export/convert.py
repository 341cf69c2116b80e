"""ONNX conversion and variants. Heavy imports (torch, optimum, onnx) happen inside the functions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from handler.model import OUTPUT_NAME

OPSET = 18
VARIANT_FILES = {
    "fp32": "model.onnx",
    "int8": "model_int8.onnx",
    "int8_unsigned": "model_int8_unsigned.onnx",
    "fp16": "model_fp16.onnx",
}
# What each device embeds with unless told otherwise (written into the manifest's `defaults`).
# int8's integer products are exact only where the CPU adds them in int32 (`handler.model.cpu`):
# elsewhere the encoder takes `cpu_without_int8_dot` instead, and says so.
DEFAULT_VARIANTS = {"cpu": "int8", "cpu_without_int8_dot": "int8_unsigned", "cuda": "fp16"}
# What a variant needs from the CPU, written into its manifest entry and checked by the encoder.
REQUIRES = {"int8": "int8_dot"}
# int8_unsigned: int8's graph with each weight stored as w + 128 (zero point 128). onnxruntime then
# runs its uint8 x uint8 kernel, which sums every product in int32 on every CPU (x86 without VNNI
# widens to int16 and pairs with vpmaddwd: nothing saturates), so it computes int8's integers where
# int8's own uint8 x int8 kernel cannot: the CPU default there. On an AMD EPYC with AVX2 only, one
# thread (bench_tokens, 2026-12-03): 2.12 / 3.34 / 10.27 / 37.5 ms at 3 / 8 / 34 / 130 tokens, against
# 2.56 / 5.42 / 19.12 / 76.0 for the 8-bit block-wise weights (MatMulNBits) it replaced there (docs/benchmarks.md).
UNSIGNED_ZERO_POINT = 128
# Each variant's weights live beside its graph in `<file>.data` (ONNX external data): onnxruntime then
# maps them instead of parsing and copying them out of the protobuf (int8: session 36 -> 16 ms on one
# core, measured on an Intel Xeon), the cold start's largest piece after the imports.
WEIGHTS_SUFFIX = ".data"
INLINE_BELOW = 1024  # bytes: scales, shapes and biases stay in the graph, where the optimizer reads them


def model_config(source_dir: Path) -> dict:
    return json.loads((source_dir / "config.json").read_text())


def move_weights_out(model_file: Path) -> Path:
    """Rewrite model_file with its weights in `model_file + WEIGHTS_SUFFIX` (same tensors, same graph);
    returns the weights file."""
    import onnx

    weights = model_file.with_name(model_file.name + WEIGHTS_SUFFIX)
    model = onnx.load(str(model_file))
    weights.unlink(missing_ok=True)  # onnx appends to an existing file
    onnx.save_model(model, str(model_file), save_as_external_data=True, all_tensors_to_one_file=True, location=weights.name,
                    size_threshold=INLINE_BELOW)
    return weights


def export_fp32(source_dir: Path, out_file: Path, workdir: Path) -> None:
    """sentence-transformers dir -> ONNX with mean pooling and L2 normalization inside the graph.

    optimum recognises a sentence-transformers directory and exports its modules (Transformer,
    Pooling, Normalize) as one graph. We keep only `sentence_embedding` as output.
    """
    import onnx
    from optimum.exporters.onnx import main_export

    raw_dir = workdir / "optimum"
    main_export(
        str(source_dir),
        output=str(raw_dir),
        task="feature-extraction",
        library_name="sentence_transformers",
        opset=OPSET,
        do_validation=False,  # our own parity gate is stricter and covers every variant
        device="cpu",
    )
    model = onnx.load(str(raw_dir / "model.onnx"))
    outputs = [o for o in model.graph.output if o.name == OUTPUT_NAME]
    if not outputs:
        raise RuntimeError(f"optimum's export has no '{OUTPUT_NAME}' output: is the source a sentence-transformers model?")
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    dims = model.graph.output[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch_size"
    dims[1].Clear()
    dims[1].dim_value = int(model_config(source_dir)["hidden_size"])
    onnx.checker.check_model(model)
    onnx.save(model, str(out_file))


def write_tokenizer(source_dir: Path, out_file: Path, max_seq_length: int) -> dict:
    """tokenizer.json as sentence-transformers runs it: truncate at max_seq_length, pad to the longest."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source_dir / "tokenizer.json"))
    shipped = {"truncation": tokenizer.truncation, "padding": tokenizer.padding}
    pad = tokenizer.padding or {}
    tokenizer.enable_truncation(max_length=max_seq_length, strategy="longest_first")
    tokenizer.enable_padding(pad_id=pad.get("pad_id", 0), pad_token=pad.get("pad_token", "[PAD]"), length=None)
    tokenizer.save(str(out_file))
    return {"file": out_file.name, "max_length": max_seq_length, "padding": "longest", "shipped_with": shipped}


def optimize_fp32(source_dir: Path, fp32_file: Path, out_file: Path | None, *, for_gpu: bool = False, separate_qkv: bool = False):
    """onnxruntime's transformer fusions (attention, embed + LayerNorm, bias + GELU).
    separate_qkv: fuse attention as MultiHeadAttention, leaving Q, K, V as MatMuls to quantize."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = model_config(source_dir)
    options = FusionOptions("bert")
    options.use_multi_head_attention = separate_qkv
    model = optimize_model(
        str(fp32_file),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,  # offline fusions only; onnxruntime applies hardware-specific ones at load
        use_gpu=for_gpu,
        optimization_options=options,
    )
    if out_file is not None:
        model.save_model_to_file(str(out_file))
    return model


def quantize_int8(source_dir: Path, fp32_file: Path, out_file: Path, tokenizer_file: Path, calibration: list[str],
                  weight_limit: int | None = None) -> dict:
    """The fused fp32 graph, tidied (export/tidy.py), with an 8-bit word table (export/embedding.py)
    and int8 GEMMs on batch-independent activation grids (export/int8_graph.py). weight_limit: the
    int8 weights' bound (int8_graph.WEIGHT_LIMIT; WEIGHT_LIMIT_7BIT cannot saturate on AVX2 but misses
    the gate: docs/benchmarks.md, "What was tried")."""
    import onnx

    from export import calibration as calib
    from export import embedding, int8_graph, tidy

    model = optimize_fp32(source_dir, fp32_file, None, separate_qkv=True).model
    steps = tidy.tidy(model)
    if embedding.quantize_word_table(model):
        steps.append("8-bit word table")
        tidy.drop_dead_nodes(model)
    ranges = calib.activation_ranges(model, tokenizer_file, calibration, calib.matmul_inputs(model))
    weight_limit = weight_limit or int8_graph.WEIGHT_LIMIT
    int8_graph.quantize(model, ranges, weight_limit)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_file))
    gemms = sum(1 for node in model.graph.node if node.op_type == "MatMulIntegerToFloat")
    return {
        "method": f"{gemms} int8 GEMMs (MatMulIntegerToFloat, uint8 activations x int8 weights within +-{weight_limit} per column) on fixed per-channel "
                  f"grids (normalization outputs) or one scale per row (GELU output, shifted and smoothed; attention output, symmetric): "
                  f"no scale depends on another row; " + ", ".join(steps),
        "source": "fp32, fused with MultiHeadAttention",
        "requires": REQUIRES["int8"],
    }


def unsigned_weights(int8_file: Path, out_file: Path) -> dict:
    """int8's graph (one file, weights inline) -> the same GEMMs with uint8 weights and a zero point of
    UNSIGNED_ZERO_POINT per column: the same integer products, run by onnxruntime's uint8 x uint8 kernel."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(int8_file))
    inits = {tensor.name: tensor for tensor in model.graph.initializer}
    converted: dict[str, int] = {}  # weight -> its columns
    for node in model.graph.node:
        if node.op_type != "MatMulIntegerToFloat":
            continue
        weight = node.input[1]
        if weight not in converted:
            if weight not in inits:
                raise RuntimeError(f"{int8_file.name}: {node.name}'s weights are computed, not stored: nothing to convert")
            values = numpy_helper.to_array(inits[weight])
            if values.dtype != np.int8:
                raise RuntimeError(f"{int8_file.name}: {node.name}'s weights are {values.dtype}, not int8")
            inits[weight].CopyFrom(numpy_helper.from_array((values.astype(np.int16) + UNSIGNED_ZERO_POINT).astype(np.uint8), weight))
            converted[weight] = values.shape[1]
        zero = f"unsigned_zero_point_{converted[weight]}"
        if zero not in inits:
            inits[zero] = numpy_helper.from_array(np.full([converted[weight]], UNSIGNED_ZERO_POINT, np.uint8), zero)
            model.graph.initializer.append(inits[zero])
        # MatMulIntegerToFloat's inputs: A, B, a_scale, b_scale, a_zero_point, b_zero_point, bias
        inputs = list(node.input) + [""] * max(0, 6 - len(node.input))
        if inputs[5]:
            raise RuntimeError(f"{int8_file.name}: {node.name} has a weight zero point already")
        inputs[5] = zero
        del node.input[:]
        node.input.extend(inputs)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_file))
    return {
        "method": f"int8's graph with its {len(converted)} GEMMs' weights unsigned (uint8, zero point {UNSIGNED_ZERO_POINT}): "
                  "onnxruntime's uint8 x uint8 kernel sums the same integer products in int32 on every CPU",
        "source": "int8's graph (shipped as int8 where the CPU has an exact int8 dot product)",
    }


def convert_fp16(source_dir: Path, fp32_file: Path, out_file: Path) -> dict:
    """fp16 weights for CUDA, fused for GPU; inputs and output stay int64 / float32."""
    model = optimize_fp32(source_dir, fp32_file, None, for_gpu=True)
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(out_file))
    return {"method": "onnxruntime transformer fusions for GPU + float16 weights, float32 I/O", "source": "fp32"}
