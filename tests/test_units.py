"""Fast tier: the pure functions and small mechanisms, without the exported model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from export import parity
from handler.cli import cli
from handler.errors import NeuralSearchError, UsageError
from handler.storage import StorageError, StorageUnavailable
from scripts.upload import with_retries
from handler.record import DEFAULT_TEXT_TEMPLATE, indexed_text, record_text
from scripts.records import TemplateError, read_records, template_fields, validate

RECORD = {"name": "Acme", "images": "https://x/logo.png", "alt": "Acme", "description": "rockets", "link": "https://acme.example", "city": "Berlin"}


# -- records ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, reason", [
    (RECORD, None),
    ([1, 2], "expected a JSON object, got list"),
    ({k: v for k, v in RECORD.items() if k != "city"}, "missing field(s): city"),
    ({**RECORD, "description": 42}, "field 'description' must be a string, got int"),
    ({**RECORD, "alt": " ", "description": ""}, "nothing to embed: field(s) alt, description are all empty"),
    ({**RECORD, "alt": "", "description": "only the description"}, None),
])
def test_validate_names_the_field(data, reason):
    assert validate(data, ["alt", "description"]) == reason


def test_template_fields_and_text():
    assert template_fields(DEFAULT_TEXT_TEMPLATE) == ["name", "alt", "description"]
    assert record_text(RECORD) == "Acme. Acme. rockets"
    with pytest.raises(TemplateError, match="unknown: nope"):
        template_fields("{alt} {nope}")
    with pytest.raises(TemplateError, match="not valid"):
        template_fields("{alt")


def test_the_indexed_text_always_holds_the_name():
    """BM25 indexes the embedded text with the name in front, unless the template embeds it already."""
    assert indexed_text(RECORD) == record_text(RECORD)
    assert indexed_text(RECORD, "{alt}. {description}") == "Acme. Acme. rockets"
    assert indexed_text({**RECORD, "name": "NowBoarding ✈️"}, "{description}") == "NowBoarding ✈️. rockets"
    assert indexed_text({**RECORD, "name": "  "}, "{description}") == "rockets"


def test_read_records_counts_every_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([json.dumps(RECORD).encode(), b"", b"{oops", b"\xff\xfe", json.dumps([1]).encode()]) + b"\n")
    good, bad = read_records(path)
    assert [r.line for r in good] == [1]
    assert [(r.line, r.reason.split(":")[0]) for r in bad] == [(3, "invalid JSON"), (4, "not valid UTF-8 at byte 0"), (5, "expected a JSON object, got list")]


# -- the parity gate's arithmetic --------------------------------------------------------------------

def test_gate_names_variant_figure_value_and_bound():
    assert parity.failures("int8", {"mean_cosine": 0.999, "mean_top10_overlap": 0.99, "batch_invariance_max_abs_diff": 0.0}) == []
    assert parity.failures("int8", {"mean_cosine": 0.999, "mean_top10_overlap": 0.9}, where=" (held-out)") == ["int8: mean_top10_overlap (held-out) = 0.9, needs >= 0.95"]
    missed = parity.failures("fp32", {"min_cosine": 0.9, "batch_invariance_max_abs_diff": 1e-3})
    assert missed == ["fp32: min_cosine = 0.9, needs >= 0.99999", "fp32: batch_invariance_max_abs_diff = 0.001, needs <= 1e-05"]
    assert parity.failures("fp16", {"min_cosine": float("nan")}) == ["fp16: min_cosine = nan, needs >= 0.999"]


def test_figures_and_top_k_overlap():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(30, 8)).astype(np.float32)
    same = parity.figures(reference, reference.copy())
    assert same["min_cosine"] == pytest.approx(1.0) and same["mean_top10_overlap"] == 1.0 and same["max_abs_diff"] == 0
    shuffled = parity.figures(reference, rng.permutation(reference))
    assert shuffled["mean_top10_overlap"] < 0.9 and shuffled["min_cosine"] < 0.9


# -- retries ---------------------------------------------------------------------------------------

def flaky(failures: int, error=StorageUnavailable):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= failures:
            raise error(f"down (call {len(calls)})")
        return "ok"

    return call, calls


def test_with_retries_retries_transient_failures_then_succeeds():
    call, calls = flaky(2)
    seen = []
    assert with_retries(call, attempts=3, base_delay=0, on_retry=lambda attempt, exc: seen.append(attempt)) == "ok"
    assert len(calls) == 3 and seen == [1, 2]


def test_with_retries_gives_up_after_the_last_attempt():
    call, calls = flaky(10)
    with pytest.raises(StorageUnavailable, match="call 4"):
        with_retries(call, attempts=4, base_delay=0)
    assert len(calls) == 4


def test_with_retries_does_not_retry_a_permanent_error():
    call, calls = flaky(10, error=StorageError)
    with pytest.raises(StorageError):
        with_retries(call, attempts=4, base_delay=0)
    assert len(calls) == 1


# -- the CLI wrapper -------------------------------------------------------------------------------

def test_cli_turns_errors_into_one_line_and_a_status(capsys, monkeypatch):
    monkeypatch.delenv("NEURAL_SEARCH_DEBUG", raising=False)

    @cli(interrupted="nothing was written")
    def main(what):
        if what == "usage":
            raise UsageError("--out is not a directory")
        if what == "gate":
            raise NeuralSearchError("gate failed")
        if what == "ctrl-c":
            raise KeyboardInterrupt
        if what == "bug":
            raise ZeroDivisionError("division by zero")
        return 0

    assert main("ok") == 0
    assert main("usage") == 2 and capsys.readouterr().err == "error: --out is not a directory\n"
    assert main("gate") == 1 and capsys.readouterr().err == "error: gate failed\n"
    assert main("ctrl-c") == 130 and capsys.readouterr().err == "interrupted: nothing was written\n"
    assert main("bug") == 1 and "unexpected ZeroDivisionError" in capsys.readouterr().err
    monkeypatch.setenv("NEURAL_SEARCH_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main("bug")
