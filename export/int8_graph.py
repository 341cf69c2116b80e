"""int8 GEMMs whose activation scales never look at other rows: onnxruntime's fastest integer
kernel (MatMulIntegerToFloat, uint8 x int8) with each text's vector independent of its batch.

onnxruntime's dynamic int8 (DynamicQuantizeLinear) takes one scale per tensor, so a vector moves
with its batch-mates and one outlier token coarsens every other; MatMulNBits quantizes per row but
its kernel costs as much per token as fp32 here. This rewrite of the fused fp32 graph gives every
GEMM input one of two batch-independent quantizations:

- a fixed grid per channel, calibrated (normalization outputs: Q/K/V and FFN-in):
  x_j ~ sigma_j * (q_j - offset_j). sigma goes into W's rows, offset into the bias, so the GEMM
  sees plain uint8. The grid costs one LayerNormalization (a second one, reading the same sum,
  with gamma / sigma and beta / sigma + offset).
- one scale per row, from the row's own peak: the GELU output (FFN-out, heavy-tailed), shifted by
  0.17 (GELU >= -0.16997) so it is non-negative and uses all 256 levels, smoothed per channel
  (SmoothQuant) first; and the attention output (out-proj), symmetric. On a fixed grid the
  attention output cost repetitive text most: its rows are alike, so one grid step's error is
  every row's and pooling cannot average it away ("word " * 1000: 0.984 on the grid, 0.998 per
  row, for 5 more nodes a layer and 1-3% of a short query; docs/pipeline.md#degenerate-text).

Weights: int8, one scale per output column; Q, K, V in one packed GEMM; biases ride in the next
op. Residual sums stay Add + LayerNormalization (onnxruntime's SkipLayerNormalization is several
times slower on CPU). x86 without VNNI saturates uint8 x int8 sums in int16: see `handler.model.cpu`;
weights within +-64 (WEIGHT_LIMIT_7BIT) stay clear of it but miss the gate (docs/benchmarks.md, "What was tried").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

GRID_BETA = 0.75  # fixed grids: how much of each channel's width becomes its own scale (1 = all)
SMOOTHING_ALPHA = 0.5  # per-row inputs: share of a channel's range migrated into W (SmoothQuant)
GELU_FLOOR = 0.17  # min over x of x * Phi(x) is -0.16997
NORMS = ("LayerNormalization", "SkipLayerNormalization", "EmbedLayerNormalization")
FIXED_GRID_KINDS = ("norm",)  # the attention output takes one scale per row (see above)


def _name(x: str) -> str:
    """A prefix for what the rewrite adds about x, clear of the graph's own names."""
    return "q_" + x.strip("/").replace("/", "_")


WEIGHT_LIMIT = 127  # int8 weights within +-127: exact where the CPU sums uint8 x int8 products in int32
# Within +-64, two uint8 x int8 products never leave int16 (2 * 255 * 64 = 32640 <= 32767): integer sums
# exact on x86's AVX2 kernel too (vpmaddubsw adds pairs in int16, saturating), at 7 bits of weight
# precision; measured short of the gate's top-10 overlap (docs/benchmarks.md, "What was tried").
WEIGHT_LIMIT_7BIT = 64


def quantize_columns(weight: np.ndarray, limit: int = WEIGHT_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 within +-limit, one scale per output column."""
    scale = (np.maximum(np.abs(weight).max(axis=0), 1e-30) / limit).astype(np.float32)
    return np.clip(np.round(weight / scale), -limit, limit).astype(np.int8), scale


@dataclass
class _Rewrite:
    model: object
    ranges: dict  # activation -> (per-channel min, per-channel max) over the calibration texts
    weight_limit: int = WEIGHT_LIMIT  # int8 weights within +-weight_limit (quantize_columns)
    nodes: list = field(default_factory=list)
    quantized: dict = field(default_factory=dict)
    sums: dict = field(default_factory=dict)  # normalization output -> (sum, gamma, beta, epsilon)
    norms: dict = field(default_factory=dict)  # normalization output -> the LayerNormalization written

    def __post_init__(self):
        graph = self.model.graph
        self.inits = {i.name: i for i in graph.initializer}
        self.producers = {o: n for n in graph.node for o in n.output}
        self.consumers = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)

    # -- helpers ---------------------------------------------------------------------------------
    def const(self, name: str, value) -> str:
        """A new initializer; names starting with int8_ are shared constants, made once."""
        from onnx import numpy_helper

        if name in self.inits and not name.startswith("int8_"):
            raise ValueError(f"initializer name '{name}' is taken")
        if name not in self.inits:
            tensor = numpy_helper.from_array(np.asarray(value), name)
            self.model.graph.initializer.append(tensor)
            self.inits[name] = tensor
        return name

    def add(self, op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        from onnx import helper
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    def init(self, name: str) -> np.ndarray:
        from onnx import numpy_helper

        return numpy_helper.to_array(self.inits[name]).astype(np.float64)

    def weight(self, node) -> np.ndarray:
        return self.init(node.input[1])
    def is_weight_matmul(self, node) -> bool:
        return node.op_type == "MatMul" and node.input[1] in self.inits

    def kind(self, x: str) -> str:
        op = self.producers[x].op_type if x in self.producers else ""
        return "gelu" if op in ("BiasGelu", "Gelu", "FastGelu") else "norm" if op in NORMS else "attention" if "Attention" in op else "other"

    def on_grid(self, x: str) -> bool:
        return self.kind(x) in FIXED_GRID_KINDS and x in self.ranges

    def weight_peak(self, x: str) -> np.ndarray:
        weights = [self.weight(n) for n in self.consumers[x] if self.is_weight_matmul(n)]
        return np.maximum(np.max([np.abs(w).max(axis=1) for w in weights], axis=0), 1e-5)

    def grid(self, x: str) -> tuple[np.ndarray, np.ndarray]:
        """x_j / sigma_j + offset_j spans [0, 255] over the calibration ranges (QuantizeLinear
        saturates beyond). sigma_j follows the channel's width to the power GRID_BETA; the rest
        of the spread goes into W's rows, as smoothing does."""
        lo, hi = self.ranges[x]
        lo, hi = np.minimum(lo, 0).astype(np.float64), np.maximum(hi, 0).astype(np.float64)
        width = np.maximum(hi - lo, 1e-8)
        shape = width ** GRID_BETA / self.weight_peak(x) ** (1 - GRID_BETA)
        sigma = shape * np.max(width / 255 / shape)
        return sigma, -lo / sigma

    def norm_source(self, x: str) -> tuple | None:
        """(sum, gamma, beta, epsilon) of the LayerNormalization that makes x, if one does."""
        if x in self.sums:
            return self.sums[x]
        node = self.producers.get(x)
        if node is not None and node.op_type == "LayerNormalization" and len(node.input) == 3:
            return node.input[0], node.input[1], node.input[2], next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
        return None

    # -- quantizing a GEMM's input ---------------------------------------------------------------
    def quantize_input(self, x: str) -> dict:
        """x -> uint8, once per activation: its name, how to undo it, what W's rows are scaled by."""
        if x in self.quantized:
            return self.quantized[x]
        tag, one, zero = _name(x), self.const("int8_one", np.float32(1)), self.const("int8_zero", np.uint8(0))
        lo, hi = self.ranges[x]
        if self.on_grid(x):
            sigma, offset = self.grid(x)
            if self.norm_source(x):
                total, gamma, beta, epsilon = self.norm_source(x)
                gamma = self.const(f"{tag}_grid_gamma", (self.init(gamma) / sigma).astype(np.float32))
                beta = self.const(f"{tag}_grid_beta", (self.init(beta) / sigma + offset).astype(np.float32))
                grid = self.add("LayerNormalization", [total, gamma, beta], f"{tag}_grid", axis=-1, epsilon=epsilon)
            else:  # (a per-axis QuantizeLinear on the last axis is a slow scalar loop in onnxruntime)
                scaled = self.add("Mul", [x, self.const(f"{tag}_inv_sigma", (1 / sigma).astype(np.float32))], f"{tag}_scaled")
                grid = self.add("Add", [scaled, self.const(f"{tag}_offset", offset.astype(np.float32))], f"{tag}_grid")
            entry = {"q": self.add("QuantizeLinear", [grid, one, zero], f"{tag}_q"), "a_scale": one, "zero": zero, "rows": sigma,
                     "offset": offset, "peak": None}
        elif self.kind(x) == "gelu":
            rows = np.maximum(hi + GELU_FLOOR, 1e-5) ** SMOOTHING_ALPHA / self.weight_peak(x) ** (1 - SMOOTHING_ALPHA)
            smoothed = self.add("Mul", [x, self.const(f"{tag}_smooth", (1 / rows).astype(np.float32))], f"{tag}_smoothed")
            offset = GELU_FLOOR / rows  # (x + floor) / rows >= 0
            shifted = self.add("Add", [smoothed, self.const(f"{tag}_floor", offset.astype(np.float32))], f"{tag}_shifted")
            peak = self.add("ReduceMax", [shifted, self.const("int8_last_axis", np.array([-1], np.int64))], f"{tag}_rowmax", keepdims=1)
            unit = self.add("Div", [shifted, peak], f"{tag}_unit")
            a_scale = self.const("int8_one_255th", np.float32(1 / 255))
            entry = {"q": self.add("QuantizeLinear", [unit, a_scale, zero], f"{tag}_q"), "a_scale": a_scale, "zero": zero, "rows": rows,
                     "offset": offset, "peak": peak}
        else:  # symmetric, one scale per row: attention outputs, and inputs of graphs this rewrite does not know
            magnitude = self.add("Abs", [x], f"{tag}_abs")
            peak = self.add("ReduceMax", [magnitude, self.const("int8_last_axis", np.array([-1], np.int64))], f"{tag}_rowmax0", keepdims=1)
            peak = self.add("Max", [peak, self.const("int8_tiny", np.float32(1e-30))], f"{tag}_rowmax")  # a row of zeros
            unit = self.add("Div", [x, peak], f"{tag}_unit")
            a_scale, zero = self.const("int8_one_127th", np.float32(1 / 127)), self.const("int8_zero_128", np.uint8(128))
            entry = {"q": self.add("QuantizeLinear", [unit, a_scale, zero], f"{tag}_q"), "a_scale": a_scale, "zero": zero,
                     "rows": np.ones_like(hi, dtype=np.float64), "offset": None, "peak": peak}
        self.quantized[x] = entry
        return entry

    def integer_matmul(self, x: str, weight: np.ndarray, tag: str, out: str | None = None, bias: np.ndarray | None = None) -> tuple[str, np.ndarray]:
        """x @ weight (+ bias) through int8. Returns the output and what is still to be added
        to it: the grid's correction and the bias, when a per-row scale follows the GEMM."""
        entry = self.quantize_input(x)
        w_int, w_scale = quantize_columns(weight * entry["rows"][:, None], self.weight_limit)
        used = w_int.astype(np.float64) * w_scale  # the W the kernel really multiplies by
        correction = -(entry["offset"] @ used) if entry["offset"] is not None else np.zeros(weight.shape[1])
        inputs = [entry["q"], self.const(f"{tag}_w", w_int), entry["a_scale"], self.const(f"{tag}_w_scale", w_scale), entry["zero"]]
        if entry["peak"] is None:
            if bias is not None:
                inputs += ["", self.const(f"{tag}_bias", (bias + correction).astype(np.float32))]
                correction, bias = np.zeros_like(correction), None
            y = self.add("MatMulIntegerToFloat", inputs, out or f"{tag}_out", domain="com.microsoft")
        else:
            y = self.add("MatMulIntegerToFloat", inputs, f"{tag}_int", domain="com.microsoft")
            y = self.add("Mul", [y, entry["peak"]], out or f"{tag}_out")
        return y, (correction + (bias if bias is not None else 0)).astype(np.float32)

    # -- the graph -------------------------------------------------------------------------------
    def run(self) -> None:
        from onnx import helper

        done = set()
        for node in self.model.graph.node:
            if node.op_type == "MultiHeadAttention" and self._projections(node):
                done.update(id(p) for p in self._projections(node))
        for node in self.model.graph.node:
            if id(node) in done:
                continue
            if node.op_type == "MultiHeadAttention" and self._projections(node):
                self._qkv(node)
            elif self.is_weight_matmul(node):
                self._matmul(node, done)
            else:
                self.nodes.append(node)
        graph = self.model.graph
        del graph.node[:]
        graph.node.extend(self.nodes)
        used = {name for n in graph.node for name in n.input}
        keep = [i for i in graph.initializer if i.name in used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
        if not any(o.domain == "com.microsoft" for o in self.model.opset_import):
            self.model.opset_import.append(helper.make_opsetid("com.microsoft", 1))

    def _projections(self, mha) -> list | None:
        """The Q, K and V MatMuls of a MultiHeadAttention when they share one input, else None."""
        projections = [self.producers.get(name) for name in mha.input[:3]]
        if not all(p is not None and self.is_weight_matmul(p) for p in projections) or len({p.input[0] for p in projections}) != 1:
            return None
        if any(len(self.consumers[p.output[0]]) != 1 for p in projections):
            return None
        return projections

    def _qkv(self, mha) -> None:
        """Q, K, V -> one packed integer GEMM, split for MultiHeadAttention (written here)."""
        projections = self._projections(mha)
        weights = [self.weight(p) for p in projections]
        tag = _name(mha.name) + "_qkv"
        bias = self.init(mha.input[3]) if len(mha.input) > 3 and mha.input[3] else np.zeros(sum(w.shape[1] for w in weights))
        packed, rest = self.integer_matmul(projections[0].input[0], np.concatenate(weights, axis=1), tag)
        parts = [f"{tag}_{part}" for part in "qkv"]
        widths = self.const(f"{tag}_split", np.array([w.shape[1] for w in weights], np.int64))
        self.nodes.append(_node("Split", [packed, widths], parts, axis=-1))
        while len(mha.input) < 4:
            mha.input.append("")
        mha.input[0], mha.input[1], mha.input[2] = parts
        mha.input[3] = self.const(f"{tag}_bias", (bias + rest).astype(np.float32))
        self.nodes.append(mha)

    def _matmul(self, node, done) -> None:
        tag = _name(node.name) or _name(node.output[0])
        users = self.consumers[node.output[0]]
        chain = self._residual_chain(users)
        if chain:  # MatMul -> Add(bias) -> Add(residual) -> LayerNormalization
            bias_add, bias, residual_add, ln = chain
            y, rest = self.integer_matmul(node.input[0], self.weight(node), tag, bias=self.init(bias))
            skip = next(i for i in residual_add.input if i != bias_add.output[0])
            if rest.any() and not self.fold_into_norm(skip, rest, residual_add):
                y = self.add("Add", [y, self.const(f"{tag}_rest", rest)], f"{tag}_biased")
            total = self.add("Add", [y, skip], f"{tag}_sum")
            epsilon = next((a.f for a in ln.attribute if a.name == "epsilon"), 1e-12)
            norm = _node("LayerNormalization", [total, ln.input[1], ln.input[2]], [ln.output[0]], axis=-1, epsilon=epsilon)
            self.nodes.append(norm)
            self.norms[ln.output[0]] = norm
            self.sums[ln.output[0]] = (total, ln.input[1], ln.input[2], epsilon)
            done.update({id(bias_add), id(residual_add), id(ln)})
        elif len(users) == 1 and users[0].op_type == "BiasGelu" and users[0].input[1] in self.inits:
            _, rest = self.integer_matmul(node.input[0], self.weight(node), tag, out=node.output[0])
            users[0].input[1] = self.const(f"{tag}_gelu_bias", (self.init(users[0].input[1]) + rest).astype(np.float32))
        else:
            y, rest = self.integer_matmul(node.input[0], self.weight(node), tag)
            self.add("Add", [y, self.const(f"{tag}_rest", rest)], node.output[0])

    def _residual_chain(self, users):
        if len(users) != 1 or users[0].op_type != "Add":
            return None
        bias_add = users[0]
        bias = next((i for i in bias_add.input if i in self.inits), None)
        after = self.consumers[bias_add.output[0]]
        if not bias or len(after) != 1 or after[0].op_type != "Add":
            return None
        norm = self.consumers[after[0].output[0]]
        ok = len(norm) == 1 and norm[0].op_type == "LayerNormalization" and len(norm[0].input) == 3
        return (bias_add, bias, after[0], norm[0]) if ok else None

    def fold_into_norm(self, x: str, bias: np.ndarray, residual_add) -> bool:
        """Add a bias to x where x is made, when x's other readers take its int8 grid (built from
        the sum before normalization, which the change does not reach)."""
        norm = self.norms.get(x)
        others = [n for n in self.consumers[x] if n is not residual_add]
        if norm is None or not self.on_grid(x) or not all(self.is_weight_matmul(n) for n in others):
            return False
        norm.input[2] = self.const(f"{_name(x)}_beta_and_bias", (self.init(norm.input[2]) + bias).astype(np.float32))
        return True


def _node(op, inputs, outputs, domain="", **attrs):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=outputs[0] + f"_{op}", domain=domain, **attrs)


def quantize(model, ranges: dict, weight_limit: int = WEIGHT_LIMIT):
    """Rewrite every weight MatMul of a fused fp32 graph (MultiHeadAttention fusion) in place,
    its int8 weights within +-weight_limit."""
    _Rewrite(model, ranges, weight_limit).run()
    return model
