"""The LONG query set (paragraph-long queries, the evidence for QUERY_MAX_TOKENS) and
`scripts.eval_modes --long`, which measures hits under each token limit."""

from __future__ import annotations

import json

import pytest

from handler.common import UsageError
from reference import PACKAGES_FILE
from scripts.eval_modes import LIMITS, parse_limits
from scripts.query_sets import packages
from scripts.query_sets.startups import LONG
from tests.support.helpers import run_module

MIN_WORDS = 60  # a paragraph, not a search-box query (the longest of the other sets has 24 tokens)


def test_long_queries_are_paragraphs_each_with_an_answer_in_the_sample(sample_file):
    names = {json.loads(line)["name"] for line in sample_file.read_text().splitlines() if line.strip()}
    assert len(LONG) >= 30
    assert len({q for q, _ in LONG}) == len(LONG)
    for query, answers in LONG:
        assert len(query.split()) > MIN_WORDS, query[:60]
        assert answers and all(answer in names for answer in answers), (query[:60], answers)
    assert sum(len(q.split()) > 120 for q, _ in LONG) >= 10  # some run past the default limit of 128 tokens


def test_the_packages_long_queries_are_paragraphs_each_with_answers_in_the_catalogue():
    if not PACKAGES_FILE.is_file():
        pytest.fail(f"test data missing: {PACKAGES_FILE} (the shared data folder beside the repo)")
    names = {json.loads(line)["package"] for line in PACKAGES_FILE.read_text().splitlines() if line.strip()}
    assert len(packages.LONG) >= 10
    for query, answers in packages.LONG:
        assert len(query.split()) > MIN_WORDS, query[:60]
        assert any(answer in names for answer in answers), (query[:60], answers)


def test_limits_are_read_and_bad_ones_named():
    assert parse_limits(None) == LIMITS
    assert parse_limits("16,128") == (16, 128)
    for bad in ("16,x", "4,128", ""):
        with pytest.raises(UsageError, match="--limits"):
            parse_limits(bad)


def test_eval_long_prints_a_row_per_limit(model_dir, sample_vectors, tmp_path):
    result = run_module("scripts.eval_modes", "--long", "--queries", "2", "--rounds", "1", "--model-dir", str(model_dir), "--vectors", str(sample_vectors),
                        "--qdrant-path", str(tmp_path), "--json", str(tmp_path / "long.json"), timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "long.json").read_text())
    assert [row["limit"] for row in rows] == list(LIMITS)
    printed = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip() and line.split()[0].isdigit()]
    assert printed == [str(limit) for limit in LIMITS]
    for row in rows:
        assert row["tokens_max"] <= row["limit"]  # the query was embedded from at most the limit's tokens
        assert row["neural"]["queries"] == row["hybrid"]["queries"] == 2
        assert row["ms_per_query"] > 0
    assert rows[0]["tokens_max"] < rows[-1]["tokens_max"]  # the limit took effect (LONG's first queries are longer than 16 tokens)
