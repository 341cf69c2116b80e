"""The benchmark scripts run as documented (tiny workloads, figures not judged: the numbers are
for people, measured on a quiet machine; here only that every row is printed)."""

from __future__ import annotations

from tests.helpers import run_module


def test_bench_search_prints_every_row(model_dir, tmp_path):
    result = run_module("scripts.bench_search", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--requests", "30", "--skip-reference", timeout=300)
    assert result.returncode == 0, result.stderr
    for row in ("lambda_handler, this checkout", "service.search(), this checkout", "framework overhead"):
        assert row in result.stdout, row


def test_bench_coldstart_prints_every_row(model_dir, tmp_path):
    result = run_module("scripts.bench_coldstart", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--runs", "1", "--skip-reference", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "embedded Lambda handler, this checkout" in result.stdout and "(200)" in result.stdout
    assert "server-mode init" in result.stdout and "(init done)" in result.stdout


def test_bench_load_prints_every_level(model_dir, tmp_path):
    result = run_module("scripts.bench_load", "--model-dir", str(model_dir), "--qdrant-path", str(tmp_path), "--seconds", "1", "--concurrency", "1,4", timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("this checkout")]
    assert [row[2] for row in rows] == ["1", "4"] and all(row[-1] == "0" for row in rows)  # no errors
