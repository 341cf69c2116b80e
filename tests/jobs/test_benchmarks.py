"""The benchmark scripts run as documented (tiny workloads, figures not judged: the numbers are
for people, measured on a quiet machine; here only that every row is printed)."""

from __future__ import annotations

import json
import os
import platform

import pytest

from tests.support.helpers import REPO, cpu_variant, int8_dot_here, run_module
from tests.support.servers import perimeter_server


def test_bench_search_prints_every_row(model_dir, tmp_path):
    result = run_module("scripts.bench_search", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--requests", "30", "--skip-reference", timeout=300)
    assert result.returncode == 0, result.stderr
    for cores in (f"{os.cpu_count()} cores", "1 core"):
        for row in ("lambda_handler, this checkout", "service.search(), this checkout", "framework overhead (handler - service p50), this checkout"):
            assert f"{row}, {cores}" in result.stdout, (row, cores)
    assert "query cache hit" in result.stdout


def test_bench_coldstart_prints_every_row(model_dir, tmp_path):
    result = run_module("scripts.bench_coldstart", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--runs", "1", "--skip-reference",
                        "--imports", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "embedded Lambda handler, this checkout" in result.stdout and "(200)" in result.stdout
    assert "server-mode init" in result.stdout and "(init done)" in result.stdout
    assert "1 core (taskset)" in result.stderr  # the header line, said on stderr
    assert "import fastapi" in result.stdout and "every import" in result.stdout and "handler.lambda_entry itself" in result.stdout


def test_bench_framework_prints_every_layer(model_dir, tmp_path):
    result = run_module("scripts.bench_framework", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--rounds", "50", timeout=300)
    assert result.returncode == 0, result.stderr
    for row in ("framework, all of it", "without the metrics", "without Perimeter", "without StageRootPath", "without the event check",
                "Mangum around the smallest ASGI answer", "real request (model + Qdrant Edge)", "overhead (handler - service p50)",
                "the metrics alone"):
        assert row in result.stdout, row


def test_bench_framework_refuses_too_few_rounds(tmp_path):
    result = run_module("scripts.bench_framework", "--rounds", "3", "--qdrant-path", str(tmp_path), timeout=60)
    assert result.returncode == 2 and "--rounds must be at least 50" in result.stderr and "Traceback" not in result.stderr


def test_bench_load_prints_every_level(model_dir, tmp_path):
    result = run_module("scripts.bench_load", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--seconds", "1", "--concurrency", "1,4", timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("this checkout")]
    assert [row[2] for row in rows] == ["1", "4"] and all(row[-1] == "0" for row in rows)  # no errors


def test_quality_report_on_a_small_slice(model_dir, tmp_path):
    result = run_module("scripts.quality", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--limit", "600", "--queries", "40",
                        "--json", str(tmp_path / "q.json"), timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "q.json").read_text())
    assert report["exact"]["precision@10"] == 1.0  # exact search agrees with itself
    assert len(report["hnsw"]) == 4 and all(0 <= row["precision@10"] <= 1 and row["latency_ms_p50"] > 0 for row in report["hnsw"])
    assert report["served_vs_fp32_queries"]["variant"] == cpu_variant()
    assert 0.5 <= report["served_vs_fp32_queries"]["top10_overlap_of_results"] <= 1


def test_bench_embed_prints_every_engine(model_dir):
    result = run_module("scripts.bench_embed", "--model-dir", str(model_dir), "--limit", "120", "--skip-reference", timeout=300)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((model_dir / "manifest.json").read_text())
    default = manifest["defaults"]["cpu"]
    expected = {f"scripts.embed, {v}{' (defaults.cpu)' if v == default else ''} (CPUExecutionProvider)" for v in manifest["variants"] if v != "fp16"}
    table = [line.rsplit(None, 2)[0] for line in result.stdout.splitlines() if line.startswith("scripts.embed, ")]  # name, texts/s, vs ST
    assert sorted(table) == sorted(expected) and {"fp32", "int8_unsigned", cpu_variant()} <= set(manifest["variants"]), table
    assert all(f"  {row}: onnxruntime " in result.stdout for row in expected) and "onnxruntime alone" in result.stdout  # where the time goes, per row


def test_bench_tokens_prints_every_variant_and_a_profile(model_dir):
    result = run_module("scripts.bench_tokens", "--model-dir", str(model_dir), "--rounds", "1", "--block", "1", "--tokens", "3,8", "--profile", "3", timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0] for line in result.stdout.splitlines() if line and line[0].isalpha()}
    assert {"variant", "fp32", "int8_unsigned", cpu_variant()} <= rows
    assert f"the service serves {cpu_variant()} (" in result.stderr
    if int8_dot_here():
        assert "int8, 3 tokens, onnxruntime profile" in result.stdout and "MatMulIntegerToFloat" in result.stdout
    assert "int8_unsigned, 3 tokens, onnxruntime profile" in result.stdout and "MatMulIntegerToFloat" in result.stdout


def test_bench_tokens_on_a_cpu_without_int8_dot_times_what_is_served_there_and_says_what_it_leaves_out(model_dir):
    """On an AVX2 host (Lambda's x86; simulated: tests/support/cpu_without_int8_dot) the export's
    int8 is never served: the bench leaves it out saying why, where it stopped at the refusal, and
    names the variant served there."""
    if platform.machine() != "x86_64":
        pytest.skip("the simulation removes x86 flags: an arm64 CPU has the int8 dot product")
    simulated = f"{REPO / 'tests' / 'support' / 'cpu_without_int8_dot'}:{REPO}"
    result = run_module("scripts.bench_tokens", "--model-dir", str(model_dir), "--rounds", "1", "--block", "1", "--tokens", "3,8",
                        env={"PYTHONPATH": simulated}, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0] for line in result.stdout.splitlines() if line and line[0].isalpha()}
    assert {"fp32", "int8_unsigned"} <= rows and "int8" not in rows
    assert "the service serves int8_unsigned (" in result.stderr
    if "int8" not in json.loads((model_dir / "manifest.json").read_text())["variants"]:
        return  # an export made without an exact int8 dot product carries no int8 (and serves int8_unsigned as its default)
    assert "int8: not timed: never served on this CPU (it needs int8_dot, and this x86 CPU has neither AVX512-VNNI nor AVX-VNNI" in result.stderr
    assert "the service serves int8_unsigned (default 'int8' needs int8_dot" in result.stderr
    named = run_module("scripts.bench_tokens", "--model-dir", str(model_dir), "--variants", "int8", "--rounds", "1", "--block", "1", "--tokens", "3",
                       env={"PYTHONPATH": simulated}, timeout=300)
    assert named.returncode == 2 and "needs int8_dot" in named.stderr and "Traceback" not in named.stderr


def test_bench_load_targets_a_running_server():
    with perimeter_server() as url:
        result = run_module("scripts.bench_load", "--url", url, "--seconds", "0.5", "--concurrency", "1,2", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "p95 ms" in result.stdout and "p99 ms" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(url)]
    assert [row[1] for row in rows] == ["1", "2"] and all(float(row[2]) > 0 and row[-1] == "0" for row in rows)
    with perimeter_server() as url:
        mixed = run_module("scripts.bench_load", "--url", url, "--seconds", "0.5", "--concurrency", "2", "--long", "2", timeout=120)
    assert mixed.returncode == 0, mixed.stderr
    long = [line.split() for line in mixed.stdout.splitlines() if line.startswith("  + long")]
    assert len(long) == 1 and long[0][2] == "2" and float(long[0][3]) > 0  # the long clients, reported apart
    refused = run_module("scripts.bench_load", "--url", "http://192.0.2.1:80", "--seconds", "1", timeout=60)
    assert refused.returncode == 2 and "this machine" in refused.stderr
