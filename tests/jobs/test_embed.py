"""The offline batch embedding script, run as users run it (python -m scripts.embed)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from handler.common import UsageError
from scripts.embed import fetch
from tests.support.helpers import BENCH_FILE as BENCH
from tests.support.helpers import REPO, run_module


def embed(model_dir, *args, **kw):
    return run_module("scripts.embed", "--model-dir", str(model_dir), *args, **kw)


def test_sample_is_embedded_in_input_order(model_dir, sample_file, tmp_path):
    # fp32 here; every variant the batch jobs use is batch-invariant (the export's gate checks it).
    result = embed(model_dir, "--input", str(sample_file), "--out", str(tmp_path / "v"), "--variant", "fp32")
    assert result.returncode == 0, result.stderr
    assert "CPUExecutionProvider" in result.stderr  # the provider is said out loud
    assert "read 259 lines = 259 embedded + 0 reused + 0 rejected" in result.stdout
    vectors = np.load(tmp_path / "v" / "vectors.npy")
    lines = np.load(tmp_path / "v" / "lines.npy")
    assert vectors.shape == (259, 384) and vectors.dtype == np.float32
    assert lines.tolist() == list(range(1, 260))
    from handler.model import Encoder
    from handler.storage import read_records, record_text

    records, _ = read_records(sample_file)
    encoder = Encoder.from_export(model_dir, "fp32")
    spot = [0, 100, 258]
    expected = encoder.embed([record_text(records[i].data) for i in spot])
    assert np.abs(vectors[spot] - expected).max() < 1e-5


def test_bad_lines_are_reported_by_line_and_good_lines_go_through(model_dir, sample_file, tmp_path):
    good = sample_file.read_text().splitlines()[:3]
    record = json.loads(good[0])
    lines = [
        good[0],
        "{not json",
        json.dumps({k: v for k, v in record.items() if k != "city"}),
        json.dumps({**record, "description": 42}),
        "",
        good[1],
        json.dumps([1, 2]),
        json.dumps({**record, "name": "", "alt": "", "description": "  "}),
        good[2],
    ]
    path = tmp_path / "dirty.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = embed(model_dir, "--input", str(path), "--out", str(tmp_path / "v"))
    assert result.returncode == 3, result.stderr  # done, but something was rejected
    assert "read 8 lines = 3 embedded + 0 reused + 5 rejected" in result.stdout
    for expected in (
        "line 2: invalid JSON",
        "line 3: missing field(s): city",
        "line 4: field 'description' must be a string (text), got int 42",
        "line 7: expected a JSON object, got list",
        "line 8: nothing to embed",
    ):
        assert expected in result.stderr, expected
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert report["lines_read"] == report["embedded"] + report["reused"] + report["rejected"] == 8
    assert [r["line"] for r in report["rejected_lines"]] == [2, 3, 4, 7, 8]
    assert np.load(tmp_path / "v" / "lines.npy").tolist() == [1, 6, 9]


def test_killed_run_resumes_to_the_same_vectors(model_dir, tmp_path):
    source = tmp_path / "slice.jsonl"
    with open(BENCH) as handle:
        source.write_text("".join(next(handle) for _ in range(480)))
    common = ["--input", str(source), "--chunk-size", "80", "--batch-size", "16"]

    whole = embed(model_dir, *common, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.embed", "--model-dir", str(model_dir), *common, "--out", str(out)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "cache").glob("*.keys.npy"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before_kill = len(list((out / "cache").glob("*.keys.npy")))  # each finished chunk is a cache segment
    assert 2 <= finished_before_kill < 6, "the run should have been killed part-way"
    assert not (out / "vectors.npy").exists() and not (out / "report.json").exists()

    resumed = embed(model_dir, *common, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    done = 80 * finished_before_kill
    assert f"reusing {done} of 480 vectors from the cache" in resumed.stderr
    assert f"read 480 lines = {480 - done} embedded + {done} reused + 0 rejected" in resumed.stdout
    assert np.array_equal(np.load(out / "vectors.npy"), np.load(tmp_path / "whole" / "vectors.npy"))  # the same batches: bit for bit
    assert np.array_equal(np.load(out / "lines.npy"), np.load(tmp_path / "whole" / "lines.npy"))
    assert len(list((out / "cache").glob("*.keys.npy"))) == 1  # the chunks folded into one segment: this run's vectors


def test_a_run_reuses_what_the_cache_holds_and_nothing_else(model_dir, sample_file, tmp_path):
    out = tmp_path / "v"

    def run(*args):
        result = embed(model_dir, "--input", str(sample_file), "--out", str(out), *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "read 5 lines = 5 embedded + 0 reused" in run("--limit", "5")
    assert "read 7 lines = 2 embedded + 5 reused" in run("--limit", "7")  # an earlier run with other settings is no obstacle
    assert "read 7 lines = 7 embedded + 0 reused" in run("--limit", "7", "--variant", "fp32")  # another model file: nothing reused
    assert "read 7 lines = 0 embedded + 7 reused" in run("--limit", "7", "--variant", "fp32")
    assert "read 7 lines = 7 embedded + 0 reused" in run("--limit", "7", "--variant", "fp32", "--text-template", "{name}. {description}")
    assert "read 7 lines = 7 embedded + 0 reused" in run("--limit", "7")  # the cache holds the last run's vectors only


def test_an_out_of_an_earlier_version_is_embedded_again_and_said(model_dir, sample_file, tmp_path):
    out = tmp_path / "v"
    (out / "chunks").mkdir(parents=True)
    (out / "state.json").write_text(json.dumps({"input": str(sample_file), "limit": 3}))
    np.save(out / "chunks" / "000000000.npy", np.zeros((3, 384), np.float32))
    result = embed(model_dir, "--input", str(sample_file), "--out", str(out), "--limit", "3")
    assert result.returncode == 0, result.stderr
    assert "written by an earlier version without a vector cache (state.json, chunks): its vectors are not reused" in result.stderr
    assert "read 3 lines = 3 embedded + 0 reused" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["cache", "lines.npy", "report.json", "vectors.npy"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--text-template", "{alt} {nope}"], "uses {nope}, which is not a field"),
        (["--device", "cuda"], "cuda"),
    ],
)
def test_bad_arguments_get_a_clear_message(model_dir, sample_file, tmp_path, args, message):
    if "--input" not in args:
        args = ["--input", str(sample_file), *args]
    env = {"NEURAL_SEARCH_CACHE": str(tmp_path / "cache")}
    result = embed(model_dir, *args, "--out", str(tmp_path / "v"), env=env)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unreachable_dataset_url_says_how_to_pass_a_file(tmp_path):
    with pytest.raises(UsageError, match="--input FILE"):
        fetch("http://127.0.0.1:9/startups_demo.json", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial download left


def test_a_file_whose_every_line_is_rejected_exits_1_and_leaves_the_output_as_it_was(model_dir, sample_file, tmp_path):
    """Not a success: exit 1, the reasons counted (the commonest first), nothing in --out changed
    (before, it exited 3 and wrote an empty vectors.npy, and an upload of it emptied the collection)."""
    out = tmp_path / "v"
    assert embed(model_dir, "--input", str(sample_file), "--out", str(out), "--limit", "5").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "wrong-schema.jsonl"
    bad.write_text("\n".join(json.dumps({"package": f"p{i}", "summary": "not a startup"}) for i in range(4)) + "\n{oops\n")
    result = embed(model_dir, "--input", str(bad), "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert (f"every one of the 5 lines of {bad} was rejected against the built-in startups schema: "
            "4 x missing field(s): name, images, alt, description, link, city (first: line 1); 1 x invalid JSON") in result.stderr
    assert "Nothing was written" in result.stderr and "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    result = embed(model_dir, "--input", str(empty), "--out", str(tmp_path / "e"))
    assert result.returncode == 1 and "holds no records" in result.stderr and not (tmp_path / "e").exists()
