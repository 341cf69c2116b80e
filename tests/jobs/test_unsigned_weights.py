"""int8_unsigned (export.convert.unsigned_weights): int8's GEMMs with their weights stored as w + 128
compute int8's exact integer products on every CPU, including x86 without VNNI, where int8's own
uint8 x int8 kernel adds pairs of products in int16 and saturates.

A small MatMulIntegerToFloat graph with the products that saturate there (activations 255, weights
+-127: a pair sums to 64,770 > 32,767), run by the real onnxruntime, against numpy's exact sums."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from export.convert import UNSIGNED_ZERO_POINT, unsigned_weights
from handler.model import cpu_flags

K, N = 64, 8


def _graph(path, weights: np.ndarray, bias: np.ndarray | None) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.float32(0.5), "a_scale"),
             numpy_helper.from_array(np.full([N], 0.25, np.float32), "w_scale"), numpy_helper.from_array(np.uint8(0), "a_zero")]
    inputs = ["x", "w", "a_scale", "w_scale", "a_zero"]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias, "bias"))
        inputs += ["", "bias"]
    node = helper.make_node("MatMulIntegerToFloat", inputs, ["y"], domain="com.microsoft", name="gemm")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, ["rows", K])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", N])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 9
    onnx.save(model, str(path))


def _int8_dot_in_hardware() -> bool:
    """What the kernels see, read here and not through handler.model.cpu: tests/support/cpu_without_int8_dot
    changes what that decides, while onnxruntime still runs this CPU's VNNI kernel."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True  # arm64: an int8 dot product on every core Lambda runs
    return bool({"avx512_vnni", "avx_vnni"} & cpu_flags(Path("/proc/cpuinfo").read_text()))


def _run(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("with_bias", [False, True])
def test_unsigned_weights_give_the_exact_integer_products_where_signed_ones_saturate(tmp_path, with_bias):
    rng = np.random.default_rng(7)
    weights = np.where(rng.random((K, N)) < 0.5, 127, -127).astype(np.int8)
    weights[:, 0] = 127  # every pair of products at its largest: 2 * 255 * 127
    x = np.full((3, K), 255, np.uint8)
    x[1] = rng.integers(0, 256, K, dtype=np.uint8)
    bias = np.arange(N, dtype=np.float32) if with_bias else None
    exact = (x.astype(np.int64) @ weights.astype(np.int64)) * 0.5 * 0.25 + (bias if with_bias else 0)

    signed, unsigned = tmp_path / "signed.onnx", tmp_path / "unsigned.onnx"
    _graph(signed, weights, bias)
    details = unsigned_weights(signed, unsigned)
    assert details["source"].startswith("int8's graph") and "1 GEMMs' weights unsigned" in details["method"]

    np.testing.assert_allclose(_run(unsigned, x), exact, rtol=1e-6)
    if not _int8_dot_in_hardware():  # this CPU's uint8 x int8 kernel saturates: the reason the variant exists
        assert not np.allclose(_run(signed, x), exact, rtol=1e-3)
    else:
        np.testing.assert_allclose(_run(signed, x), exact, rtol=1e-6)


def test_the_weights_are_stored_shifted_with_one_zero_point_per_column(tmp_path):
    import onnx
    from onnx import numpy_helper

    weights = np.arange(-64, 64, dtype=np.int8).reshape(K // 32 * 2, -1)[:, :N].repeat(K // 4, axis=0)[:K]
    _graph(tmp_path / "signed.onnx", weights, None)
    unsigned_weights(tmp_path / "signed.onnx", tmp_path / "unsigned.onnx")
    model = onnx.load(str(tmp_path / "unsigned.onnx"))
    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    node = model.graph.node[0]
    assert stored["w"].dtype == np.uint8 and np.array_equal(stored["w"].astype(np.int16) - UNSIGNED_ZERO_POINT, weights)
    zero = stored[node.input[5]]
    assert zero.dtype == np.uint8 and zero.shape == (N,) and set(zero.tolist()) == {UNSIGNED_ZERO_POINT}


def test_a_graph_whose_weights_are_not_int8_is_refused(tmp_path):
    _graph(tmp_path / "signed.onnx", np.zeros((K, N), np.int8), None)
    unsigned_weights(tmp_path / "signed.onnx", tmp_path / "once.onnx")
    with pytest.raises(RuntimeError, match=r"once\.onnx: gemm's weights are uint8, not int8"):
        unsigned_weights(tmp_path / "once.onnx", tmp_path / "twice.onnx")
