"""ONNX conversion and variants. Heavy imports (torch, optimum, onnx) happen inside the functions."""

from __future__ import annotations

import json
from pathlib import Path

from handler.encoder import OUTPUT_NAME

OPSET = 18
VARIANT_FILES = {
    "fp32": "model.onnx",
    "int8": "model_int8.onnx",
    "fp16": "model_fp16.onnx",
}
# What each device embeds with unless told otherwise (written into the manifest's `defaults`).
DEFAULT_VARIANTS = {"cpu": "int8", "cuda": "fp16"}
# Dynamic int8 with per-channel weights. Plain per-tensor int8 lost too much here (mean cosine
# 0.957, top-10 overlap 0.78); the FFN down-projections and the fused attention (Q/K/V) are the
# most sensitive, so they stay fp32 (measured on this model: top-10 0.929 instead of 0.892).
INT8_KEEP_FP32 = "FFN output MatMuls and fused Attention nodes"


def model_config(source_dir: Path) -> dict:
    return json.loads((source_dir / "config.json").read_text())


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


def optimize_fp32(source_dir: Path, fp32_file: Path, out_file: Path, *, for_gpu: bool = False):
    """onnxruntime's transformer fusions (attention, embed + LayerNorm, bias + GELU)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = model_config(source_dir)
    model = optimize_model(
        str(fp32_file),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,  # offline fusions only; onnxruntime applies hardware-specific ones at load
        use_gpu=for_gpu,
    )
    if out_file is not None:
        model.save_model_to_file(str(out_file))
    return model


def quantize_int8(optimized_file: Path, out_file: Path) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(optimized_file)).graph
    keep_fp32 = [
        node.name
        for node in graph.node
        if node.op_type == "Attention"
        or (node.op_type == "MatMul" and "/output/dense/" in node.name and "attention" not in node.name)
    ]
    quantize_dynamic(
        str(optimized_file),
        str(out_file),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=keep_fp32,
        # needed to quantize a graph with fused contrib ops whose output types onnx cannot infer
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return {
        "method": "dynamic int8, per-channel weights (onnxruntime quantize_dynamic)",
        "source": "optimized",
        "kept_fp32": f"{len(keep_fp32)} nodes: {INT8_KEEP_FP32}",
    }


def convert_fp16(source_dir: Path, fp32_file: Path, out_file: Path) -> dict:
    """fp16 weights for CUDA, fused for GPU; inputs and output stay int64 / float32."""
    model = optimize_fp32(source_dir, fp32_file, None, for_gpu=True)
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(out_file))
    return {"method": "onnxruntime transformer fusions for GPU + float16 weights, float32 I/O", "source": "fp32"}
