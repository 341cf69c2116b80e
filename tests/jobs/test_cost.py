"""scripts.cost: the arithmetic of a million searches and cold starts, and docs/costs.md is its output."""

from __future__ import annotations

import pytest

from scripts import cost
from tests.support.helpers import REPO, run_module


def test_a_million_warm_searches():
    # 1024 MB is 1024/1769 of a vCPU: 2.0 ms on one core takes 3.455 ms, billed 4 ms, at 1 GB
    x86 = cost.per_million_searches("x86_64", 1024, 2.0)
    assert x86["ms"] == pytest.approx(2.0 * 1769 / 1024)
    assert x86["compute"] == pytest.approx(1e6 * 0.004 * 1.0 * 0.0000166667)
    assert x86["lambda"] == pytest.approx(x86["compute"] + 0.20) and x86["http_api"] == pytest.approx(1.00)
    arm = cost.per_million_searches("arm64", 1769, 1.98)  # a full vCPU: the one-core time, billed 2 ms
    assert arm["compute"] == pytest.approx(1e6 * 0.002 * (1769 / 1024) * 0.0000133334)
    assert cost.billed_ms(2.0) == 2 and cost.billed_ms(2.01) == 3 and cost.compute_ms(2.0, 3008) == 2.0


def test_a_million_cold_starts_with_and_without_snapstart():
    cold = cost.per_million_cold_starts("x86_64", 1024, 565)
    assert cold["without"] == pytest.approx(1e6 * 0.977 * 1.0 * 0.0000166667)  # 565 x 1769/1024 = 976.06 ms, billed 977
    assert cold["snapstart"] == pytest.approx(1e6 * 1.0 * 0.0001397998)
    assert cost.snapstart_cache_per_month(1024) == pytest.approx(30 * 86400 * 0.0000015046)
    assert cost.per_million_cold_starts("arm64", 1024, 565)["without"] == pytest.approx(cold["without"] * 0.0000133334 / 0.0000166667)


def test_the_docs_tables_are_the_scripts_output():
    printed = run_module("scripts.cost")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == cost.tables({"x86_64": cost.WARM_MS_X86_LAMBDA, "arm64": cost.WARM_MS_INT8}, cost.INIT_MS)
    docs = (REPO / "docs" / "costs.md").read_text()
    between = docs.split("<!-- scripts.cost: begin -->\n", 1)[1].split("<!-- scripts.cost: end -->", 1)[0]
    assert between == printed.stdout, "docs/costs.md's tables are not `python -m scripts.cost`'s output: paste it again"
    assert "arm64 rows: x86 timings" in printed.stdout and cost.PRICES_AS_OF in printed.stdout


def test_a_duration_that_is_none_is_refused_naming_the_option():
    refused = run_module("scripts.cost", "--init-ms", "0")
    assert refused.returncode == 2 and "--init-ms" in refused.stderr
