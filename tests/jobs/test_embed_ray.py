"""scripts.embed_ray on a local Ray with 2 CPU actors: the same vectors as the single-process
scripts.embed, bad lines named by file and line, a run killed part-way resumed to the same result,
and its sharded output uploaded. Ray's auth token and session files stay in the test's tmp dirs.
Skipped, saying why, only without the `scale` extra (ray[data]); scripts/setup_env.sh installs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from tests.support.helpers import BENCH_FILE, REPO, run_module

ray = pytest.importorskip("ray", reason="the scale extra (ray[data]) is not installed: pip install -e '.[scale]'")

SLICE = 2000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_file):
    """Two JSON-lines files: 2,000 lines of the bench corpus and a small dirty one."""
    folder = tmp_path_factory.mktemp("ray-inputs")
    with open(BENCH_FILE, "rb") as handle:
        (folder / "a-bench.jsonl").write_bytes(b"".join(next(handle) for _ in range(SLICE)))
    good = sample_file.read_text().splitlines()[:2]
    (folder / "b-dirty.jsonl").write_text("\n".join([good[0], "{broken", json.dumps({"name": "x"}), "", good[1]]) + "\n")
    return folder


@pytest.fixture(scope="module")
def reference(model_dir, inputs, tmp_path_factory):
    """The single-process path on the same bench slice."""
    out = tmp_path_factory.mktemp("single")
    result = run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(inputs / "a-bench.jsonl"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return np.load(out / "vectors.npy"), np.load(out / "lines.npy")


@pytest.fixture
def ray_env(tmp_path):
    """HOME (where Ray 2.59+ writes ~/.ray/auth_token) and Ray's session directory, both private to
    the test. The session path is short: Ray's unix sockets live under it (107-byte limit)."""
    home = tmp_path / "home"
    home.mkdir()
    session = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    yield {"HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}, session
    shutil.rmtree(session, ignore_errors=True)


def command(model_dir, inputs, out, session):
    return ["scripts.embed_ray", "--input", str(inputs / "*.jsonl"), "--out", str(out), "--workers", "2", "--shard-lines", "250",
            "--model-dir", str(model_dir), "--ray-temp-dir", session]


def test_killed_part_way_then_resumed_to_the_single_process_vectors(model_dir, inputs, reference, ray_env, tmp_path):
    env, session = ray_env
    out = tmp_path / "ray-out"
    args = command(model_dir, inputs, out, session)
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline and len(list((out / "shards").glob("*.json"))) < 2 and process.poll() is None:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its Ray workers, as a lost machine would
    process.wait()
    finished = len(list((out / "shards").glob("*.json")))
    assert 2 <= finished < 9, "the run should have been killed part-way"

    finished_records = sum(json.loads(f.read_text())["records"] for f in (out / "shards").glob("*.json"))
    assert not (out / "vectors_manifest.json").exists()

    resumed = run_module(*args, env=env, timeout=300)
    assert resumed.returncode == 3, resumed.stderr  # done, with the dirty file's lines rejected
    assert "worker pid" in resumed.stderr and "CPUExecutionProvider" in resumed.stderr  # said per worker
    manifest = json.loads((out / "vectors_manifest.json").read_text())
    assert manifest["reused"] >= finished_records > 0 and manifest["embedded"] + manifest["reused"] == 2002  # finished shards: from the cache
    assert f"read 2004 lines = {manifest['embedded']} embedded + {manifest['reused']} reused + 2 rejected in 9 shards" in resumed.stdout
    assert (tmp_path / "home" / ".ray" / "auth_token").is_file()  # Ray's token landed in the test's HOME
    dirty = str(inputs / "b-dirty.jsonl")
    assert f"rejected: {dirty}: line 2: invalid JSON" in resumed.stderr and f"rejected: {dirty}: line 3: missing field(s)" in resumed.stderr

    bench_shards = [s for s in manifest["shards"] if s["file"].endswith("a-bench.jsonl")]
    vectors = np.concatenate([np.load(out / "shards" / f"{s['shard']}.vectors.npy") for s in bench_shards])
    lines = np.concatenate([np.load(out / "shards" / f"{s['shard']}.lines.npy") for s in bench_shards])
    ref_vectors, ref_lines = reference
    assert np.array_equal(lines, ref_lines)
    cosine = np.sum(vectors * ref_vectors, axis=1)
    assert cosine.min() >= 0.99999, "row by row, the same vectors as scripts.embed"
    print(f"ray: {manifest['texts_per_second']} texts/s this run, Ray start {manifest['ray_start_seconds']} s; total {time.time() - started:.0f} s")

    uploaded = run_module("scripts.upload", "--vectors", str(out), env={"QDRANT_PATH": str(tmp_path / "q"), "QDRANT_URL": ""})
    assert uploaded.returncode == 0, uploaded.stderr
    assert "uploaded 2002 points" in uploaded.stdout and "2002 of them found by count" in uploaded.stdout

    # an updated input into the same --out: only the changed texts are embedded, the cache is shared with scripts.embed
    changed = tmp_path / "changed"
    changed.mkdir()
    bench = (inputs / "a-bench.jsonl").read_text().splitlines()
    for number in (5, 600, 1500):
        record = json.loads(bench[number])
        bench[number] = json.dumps({**record, "description": record["description"] + " Now on Ray."})
    (changed / "a-bench.jsonl").write_text("\n".join(bench) + "\n")
    shutil.copy(inputs / "b-dirty.jsonl", changed)
    again = run_module(*command(model_dir, changed, out, session), env=env, timeout=300)
    assert again.returncode == 3, again.stderr
    assert "read 2004 lines = 3 embedded + 1999 reused + 2 rejected in 9 shards" in again.stdout
    single = run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(changed / "a-bench.jsonl"), "--out", str(out))
    assert "read 2000 lines = 0 embedded + 2000 reused + 0 rejected" in single.stdout, single.stderr

    # synced into the first collection: the three reworded records replace their points
    synced = run_module("scripts.upload", "--vectors", str(out), "--sync", env={"QDRANT_PATH": str(tmp_path / "q"), "QDRANT_URL": ""})
    assert "3 added, 0 updated (0 payload only), 1999 unchanged, 3 deleted; collection holds 2002" in synced.stdout, synced.stderr

    # the manifest under its earlier name (an output directory of an earlier version) is still read
    (out / "vectors_manifest.json").rename(out / "manifest.json")
    legacy = run_module("scripts.upload", "--vectors", str(out), env={"QDRANT_PATH": str(tmp_path / "q2"), "QDRANT_URL": ""})
    assert legacy.returncode == 0 and "2002 of them found by count" in legacy.stdout, legacy.stderr


def test_an_out_holding_a_model_export_is_refused_and_left_alone(model_dir, inputs, ray_env, tmp_path):
    env, session = ray_env
    out = tmp_path / "o"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"variants": {}, "defaults": {}}))
    result = run_module(*command(model_dir, inputs, out, session), env=env, timeout=120)
    assert result.returncode == 2 and "holds a manifest.json that is not scripts.embed_ray's (a model export?)" in result.stderr
    assert json.loads((out / "manifest.json").read_text()) == {"variants": {}, "defaults": {}}


@pytest.mark.parametrize("args, message", [
    (["--input", "/no/such/*.jsonl"], "matches no file"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--text-template", "{nope}"], "uses {nope}, which is not a field"),
])
def test_bad_arguments(args, message, tmp_path):
    base = {"--input": str(BENCH_FILE), "--out": str(tmp_path / "o")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    result = run_module("scripts.embed_ray", *[x for pair in base.items() for x in pair], timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr

