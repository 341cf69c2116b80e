"""export -> variants -> parity gate -> manifest, written atomically into the output directory."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

from export import calibration, convert, parity
from export.source import ModelSource, resolve_source
from handler.common import NeuralSearchError, UsageError, say, sha256_file
from handler.model import KNOWN_TEXT, KNOWN_VECTOR, OUTPUT_NAME, WEIGHTS, known_vector
from reference import load_sentence_transformer


class ExportError(UsageError):
    """Bad input or environment: exit status 2."""


class ParityError(NeuralSearchError):
    """A variant missed its parity threshold: exit status 1. Nothing was written."""

    exit_code = 1


@contextlib.contextmanager
def quiet():
    """Hold back the libraries' chatter during one export step, and show it only if the step fails.

    All of it is known and harmless here: transformers' `torch_dtype is deprecated` and optimum's
    `requires accelerate` (a weight-deduplication check we do not need), onnxruntime's fusion and
    quantization logs, 'no gpu for optimization' when the fp16 graph is built on a CPU host.
    """
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    levels = [(lg, lg.level) for lg in loggers]
    for lg, _ in levels:
        lg.setLevel(logging.CRITICAL)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except BaseException:
        sys.stderr.write(captured.getvalue()[-5000:])
        raise
    finally:
        for lg, level in levels:
            lg.setLevel(level)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def prepare_output(out: Path) -> Path:
    """Check the destination and make a staging directory beside it (same filesystem, so the
    final rename is atomic). Refuses to replace a directory that is not an earlier export."""
    out = out.expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out '{out}' exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise ExportError(f"--out '{out}' is a non-empty directory that is not an earlier export; refusing to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise ExportError(f"cannot write to --out '{out}': {exc.strerror or exc}") from exc


def publish(staging: Path, out: Path) -> None:
    """Swap the finished staging directory into place; an earlier export is replaced whole. Readable
    by every user (the staging directory is a private mkdtemp): a service may run as another one."""
    out = out.expanduser().absolute()
    staging.chmod(0o755)
    for path in staging.iterdir():
        path.chmod(0o644)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _reference_embeddings(source: ModelSource, texts: list[str]):
    model = load_sentence_transformer(source.directory)
    return model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


def _measure_variants(staging: Path, tokenizer_file: Path, probes: parity.ProbeSet, reference, files: dict[str, str],
                      held_out: parity.ProbeSet | None = None, held_out_reference=None) -> dict:
    import onnxruntime

    from handler.model import CUDA, Encoder, resolve_device

    results = {}
    for variant, file_name in files.items():
        device = "cpu"
        if variant == "fp16" and CUDA in onnxruntime.get_available_providers():
            device = resolve_device("cuda", onnxruntime.get_available_providers())
        encoder = Encoder(staging / file_name, tokenizer_file, device=device, batch_size=32, variant=variant)
        measured = parity.figures(reference, encoder.embed(probes.texts), probes.texts)
        measured["provider"] = encoder.provider
        if encoder.provider == "CPUExecutionProvider":  # the known vector the encoder checks at start (`handler.model.kernels`)
            measured[KNOWN_VECTOR] = known_vector(encoder.embed_one(KNOWN_TEXT))
        if any(name == "batch_invariance_max_abs_diff" for name, _, _ in parity.THRESHOLDS.get(variant, [])):
            # Batch invariance: the same texts, unsorted and in one big mixed-length batch.
            mixed = Encoder(staging / file_name, tokenizer_file, batch_size=len(probes.texts)).embed(probes.texts, sort_by_length=False)
            measured["batch_invariance_max_abs_diff"] = float(abs(mixed - encoder.embed(probes.texts)).max())
        if variant == "fp16" and encoder.provider != CUDA:
            measured["note"] = "measured on CPUExecutionProvider; CUDA not verified here (no GPU)"
        if held_out is not None:
            measured["held_out"] = parity.figures(held_out_reference, encoder.embed(held_out.texts), held_out.texts)
        results[variant] = measured
    return results


def run_export(out: Path, model: str | None = None, probe_file: Path | None = parity.SAMPLE_FILE, held_out_file: Path | None = parity.BENCH_FILE) -> dict:
    """Export, build variants, gate them against sentence-transformers, write the manifest.

    Returns the manifest. Raises ExportError for bad input and ParityError for a failed gate;
    in both cases `out` is left as it was. The same source and library versions give the same
    files (sha256 for sha256) run after run: no step depends on a timing.
    """
    started = time.perf_counter()
    source = resolve_source(model)
    staging = prepare_output(out)
    try:
        say(f"source: {source.requested} ({source.directory}), weights sha256 {source.weights_sha256[:12]}…"
            + (" = official revision" if source.official else ""))
        from handler.model import missing

        files = dict(convert.VARIANT_FILES)
        defaults = dict(convert.DEFAULT_VARIANTS)
        cannot = missing(convert.REQUIRES["int8"])
        if cannot:  # its gate would measure other arithmetic than the CPUs it is meant for
            say(f"int8 left out: {cannot}; CPU default {defaults['cpu_without_int8_dot']}")
            del files["int8"]
            defaults["cpu"] = defaults["cpu_without_int8_dot"]
        details: dict[str, dict] = {v: {} for v in files}
        calibration_texts, calibration_set = calibration.texts(held_out_file, parity.HELD_OUT["first_line"])
        with tempfile.TemporaryDirectory(prefix="export-work-") as work:
            work = Path(work)
            say("[1/4] exporting fp32 ONNX with optimum (pooling + normalization in the graph)")
            with quiet():
                convert.export_fp32(source.directory, staging / files["fp32"], work)
            tokenizer_info = convert.write_tokenizer(source.directory, staging / "tokenizer.json", source.max_seq_length)
            tokenizer_file = staging / "tokenizer.json"
            # Fused graphs are intermediates of int8 and fp16, not variants: onnxruntime applies the
            # same fusions when it loads the plain fp32 graph (measured: a tie).
            # int8's graph is built everywhere: int8_unsigned is made from it, and int8 ships where the CPU runs it exactly
            int8_graph = staging / files["int8"] if "int8" in files else work / convert.VARIANT_FILES["int8"]
            say(f"[2/4] int8: fusions, fewer nodes, int8 GEMMs calibrated on {calibration_set}" + ("" if "int8" in files else " (the source of int8_unsigned)"))
            with quiet():
                int8_details = convert.quantize_int8(source.directory, staging / files["fp32"], int8_graph, tokenizer_file, calibration_texts)
            if "int8" in files:
                details["int8"].update(int8_details)
            say("[2/4] int8_unsigned: int8's GEMMs with unsigned weights (exact on CPUs without an int8 dot product)")
            details["int8_unsigned"].update(convert.unsigned_weights(int8_graph, staging / files["int8_unsigned"]))
            say("[3/4] fp16 variant for CUDA")
            with quiet():
                details["fp16"].update(convert.convert_fp16(source.directory, staging / files["fp32"], staging / files["fp16"]))
            # last, so every variant above was built from the one-file fp32, and the gate measures the files that ship
            weights = {variant: convert.move_weights_out(staging / file_name) for variant, file_name in files.items()}

        say("[4/4] parity gate against sentence-transformers")
        probes = parity.load_probes(probe_file)
        held_out = parity.load_held_out(held_out_file)
        with quiet():
            reference = _reference_embeddings(source, probes.texts)
            held_out_reference = _reference_embeddings(source, held_out.texts) if held_out else None
        measured = _measure_variants(staging, tokenizer_file, probes, reference, files, held_out, held_out_reference)

        rows, failed = {}, []
        for variant, file_name in files.items():
            path = staging / file_name
            failed += parity.failures(variant, measured[variant])
            if "held_out" in measured[variant]:
                failed += parity.failures(variant, measured[variant]["held_out"], where=" (held-out)")
            rows[variant] = {
                "file": file_name,
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
                WEIGHTS: {"file": weights[variant].name, "bytes": weights[variant].stat().st_size, "sha256": sha256_file(weights[variant])},
                "parity": {k: v for k, v in measured[variant].items() if k != KNOWN_VECTOR},
                **({KNOWN_VECTOR: measured[variant][KNOWN_VECTOR]} if KNOWN_VECTOR in measured[variant] else {}),
                "thresholds": {name: f"{op} {bound}" for name, op, bound in parity.THRESHOLDS.get(variant, [])},
                **details[variant],
            }
        table = parity.format_table({v: {**r, "failures": [m for m in failed if m.startswith(v + ":")]} for v, r in rows.items()})
        print(f"parity on {probes.description} (reference: sentence-transformers {_version('sentence-transformers')})")
        print(table, flush=True)
        if held_out:
            print(f"held out: {held_out.description} (never tuned on)")
            print(parity.format_table({v: {**r, "parity": r["parity"]["held_out"], "failures": [m for m in failed if m.startswith(v + ":") and "held-out" in m]}
                                       for v, r in rows.items()}), flush=True)
        if failed:
            raise ParityError("parity gate failed: " + "; ".join(failed) + f"; nothing was written to {out}")

        manifest = {
            "format": 1,
            "model": {
                "source": source.requested,
                "weights_sha256": source.weights_sha256,
                "official_weights": source.official,
                "dim": int(convert.model_config(source.directory)["hidden_size"]),
                "max_seq_length": source.max_seq_length,
                "output": OUTPUT_NAME,
                "inputs": ["input_ids", "attention_mask"],
                "pooling": "mean over attention mask, then L2 normalization (inside the graph)",
            },
            "tokenizer": tokenizer_info["file"],
            # checked at start like the model file (`handler.model.integrity`): another vocabulary would load and serve other rankings
            "tokenizer_sha256": sha256_file(tokenizer_file),
            "tokenizer_settings": tokenizer_info,
            "versions": {
                "opset": convert.OPSET,
                "python": platform.python_version(),
                **{pkg: _version(pkg) for pkg in ("onnx", "onnxruntime", "transformers", "optimum", "optimum-onnx", "sentence-transformers", "torch", "tokenizers")},
            },
            # The variant each device embeds with when none is named: read by the encoder and the Lambda
            # build; `cpu_without_int8_dot` where the CPU cannot run int8 exactly (`handler.model.cpu`).
            "defaults": defaults,
            "calibration_set": calibration_set,
            "probe_set": probes.description,
            "held_out_set": held_out.description if held_out else None,
            "variants": rows,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        publish(staging, out)
        staging = None
        say(f"export written to {out.expanduser().absolute()} in {time.perf_counter() - started:.1f} s")
        return manifest
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
