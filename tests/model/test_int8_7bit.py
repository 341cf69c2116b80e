"""int8's graph (export/int8_graph.py) with its weights within +-64 ("int8_7bit", built here from
the export: no export ships it, it misses the gate's top-10 overlap, docs/benchmarks.md "What was
tried"), so that x86's AVX2 kernel, which adds pairs of uint8 x int8 products in int16 and
saturates (vpmaddubsw), never reaches the bound: 2 * 255 * 64 = 32640 <= 32767. Its vectors are
then the same on an AVX2 CPU as on one with an int8 dot product, to the float kernels' rounding;
int8's (weights within +-127) are not.

The emulated check runs `qemu-x86_64 -cpu Haswell` (AVX2 + FMA, no AVX-512, no VNNI: Lambda's x86
hosts) through tests/model/test_emulated_cpus.py's `emulate` on a few texts only (emulation is
slow: minutes); needs `scripts/setup_emulation.sh` (EMULATION_DIR), skipped, saying so, without it.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from export.int8_graph import WEIGHT_LIMIT_7BIT, quantize_columns
from handler.model import Encoder, known_vector_floor
from tests.model import test_emulated_cpus as emulated
from tests.support.helpers import int8_dot_here

HELD_OUT_LINES = 3
TEXTS_EXTRA = ["?!" * 150]  # degenerate: 256 tokens of two symbols, the text int8's grids once clipped


def test_weights_within_64_cannot_saturate_a_pair_in_int16():
    rng = np.random.default_rng(0)
    weight = rng.standard_t(3, size=(384, 96)) * np.linspace(0.01, 3, 96)  # heavy tails, columns of every width
    w_int, scale = quantize_columns(weight, WEIGHT_LIMIT_7BIT)
    assert np.abs(w_int).max() == WEIGHT_LIMIT_7BIT and w_int.dtype == np.int8
    assert 2 * 255 * int(np.abs(w_int).max()) <= np.iinfo(np.int16).max  # the AVX2 kernel's pair of uint8 x int8 products
    assert np.abs(w_int * scale - weight).max() <= scale.max() / 2 + 1e-6  # round to nearest, never clipped
    assert np.abs(quantize_columns(weight)[0]).max() == 127  # int8's: a pair reaches 2 * 255 * 127 = 64770


@pytest.fixture(scope="module")
def model_7bit(model_dir, tmp_path_factory):
    """The export's files (linked) plus int8_7bit, built here, in a manifest of their own."""
    from export import calibration, convert, parity
    from export.int8_graph import WEIGHT_LIMIT_7BIT
    from export.source import resolve_source
    from handler.common import sha256_file
    from handler.model import KNOWN_TEXT, known_vector, model_files

    if not parity.BENCH_FILE.is_file():
        pytest.skip(f"no {parity.BENCH_FILE}: int8's calibration texts")
    out = tmp_path_factory.mktemp("int8_7bit")
    manifest = json.loads((model_dir / "manifest.json").read_text())
    for entry in [*manifest["variants"].values(), {"file": manifest["tokenizer"]}]:
        for file in model_files(model_dir, entry):  # a variant's graph and its weights
            (out / file.path.name).symlink_to(file.path)
    texts, _ = calibration.texts(parity.BENCH_FILE, parity.HELD_OUT["first_line"])
    path = out / "model_int8_7bit.onnx"
    entry = convert.quantize_int8(resolve_source(None).directory, out / manifest["variants"]["fp32"]["file"], path, out / manifest["tokenizer"],
                                  texts, WEIGHT_LIMIT_7BIT)
    entry.pop("requires")  # int8's: this one needs no int8 dot product
    entry.update(file=path.name, bytes=path.stat().st_size, sha256=sha256_file(path))
    entry["known_vector"] = known_vector(Encoder(path, out / manifest["tokenizer"]).embed_one(KNOWN_TEXT))
    manifest["variants"]["int8_7bit"] = entry
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out, manifest


def test_int8_7bit_graph_has_int8_graph_ops_and_weights_within_64(model_7bit):
    model_dir, manifest = model_7bit
    model = onnx.load(str(model_dir / manifest["variants"]["int8_7bit"]["file"]))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    gemms = [n for n in model.graph.node if n.op_type == "MatMulIntegerToFloat"]
    assert len(gemms) == 24 and "MatMul" not in {n.op_type for n in model.graph.node}
    assert all(inits[n.input[1]].dtype == np.int8 and np.abs(inits[n.input[1]].astype(int)).max() <= 64 for n in gemms)


def test_int8_7bit_under_emulated_haswell_gives_this_machines_vectors(model_7bit, tmp_path, monkeypatch):
    """int8_7bit's vectors under Haswell (AVX2 kernels) are this machine's native ones to the float
    kernels' rounding; int8's move by its int16 saturation (compared only where this CPU runs int8
    exactly, so that its native vectors are the gated ones)."""
    model_dir, manifest = model_7bit
    from export.parity import load_held_out

    held_out = load_held_out()
    sample = (held_out.texts[:HELD_OUT_LINES] if held_out else []) + TEXTS_EXTRA
    monkeypatch.setattr(emulated, "texts", lambda: sample)
    variants = ["int8_7bit"] + (["int8"] if "int8" in manifest["variants"] and int8_dot_here() else [])
    vectors, report = emulated.emulate("haswell", model_dir, variants, tmp_path)
    lines = [f"haswell: served {report['served']} (fallback: {report['fallback']}); wall {report['wall_s']} s, embed {report['embed_s']}"]
    diffs, own = {}, {}
    for variant in variants:
        native = Encoder(model_dir / manifest["variants"][variant]["file"], model_dir / "tokenizer.json", batch_size=emulated.ROWS).embed(sample)
        own[variant] = emulated.cosines(vectors[variant], native)
        diffs[variant] = float(np.abs(vectors[variant] - native).max())
        per_text = np.abs(vectors[variant] - native).max(axis=1)
        lines.append(f"  {variant} under Haswell vs native: max abs diff {diffs[variant]:.2e}, min cosine {own[variant].min():.7f}; per text "
                     + ", ".join(f"{text[:12]!r} {d:.1e} / {c:.7f}" for text, d, c in zip(sample, per_text, own[variant])))
    print("\n".join(lines))
    # Not bit-equal on every text (measured: two of four texts bit-equal, the worst at 2.3e-3 / 0.99990;
    # int8_blocks, AVX2 under valgrind vs native, 1.8e-3 / 0.99993): probably the float ops around the
    # GEMMs (normalization sums, exp, erf), whose AVX2 and AVX-512 kernels round differently, moving a
    # value across a level of the next QuantizeLinear (not traced); on an Intel Xeon host the worst was
    # 0.99984. So the bound is the one test_emulated_cpus.py puts on an exact variant under kernels of
    # another width (known_vector_floor); what tells int8_7bit from int8 is int8's saturated sums
    # moving every text by far more (below).
    assert own["int8_7bit"].min() >= known_vector_floor(manifest["variants"]["int8_7bit"]), "\n".join(lines)
    if "int8" in diffs:
        # Measured on an Intel Xeon host: int8's worst text 1 - 0.99641 = 3.6e-3 against int8_7bit's 1 - 0.99984
        # = 1.6e-4 (max abs diff, 1.46e-2 vs 2.46e-3, is too close a margin to separate them).
        assert 1 - own["int8"].min() > 5 * (1 - own["int8_7bit"].min()), "int8 under Haswell should saturate in int16:\n" + "\n".join(lines)
    assert report["served"] != "int8", "\n".join(lines)  # refused there by the known-vector check
