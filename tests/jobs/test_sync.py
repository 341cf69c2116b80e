"""An updated dataset, end to end: `scripts.embed` re-embeds only what changed (the vector cache in
--out), `scripts.upload --sync` makes the collection follow the file, and the synced collection
answers exactly as a fresh load of the new file (ids, order, scores, payloads, cities) on the
real Qdrant Edge engine, and over real HTTP on the Qdrant REST STAND-IN (`tests.support.qdrant_standin`:
qdrant-client's local mode behind uvicorn; no Qdrant server runs here)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from handler.common import Settings
from handler.model import Encoder
from handler.search import MODES, FacetRequest, SearchService, SimilarRequest
from handler.storage import EdgeStorage, Filters, Nearest, ServerStorage
from scripts.benchkit import ROOT
from tests.support.helpers import BENCH_FILE, run_module
from tests.support.qdrant_standin import QdrantStandin

REMOVED = (10, 50, 90, 130, 170, 210)  # line numbers of the sample
REWORDED = (20, 60, 100, 140, 180)  # the description changes: so does the embedded text
MOVED = (30, 70)  # the city changes: the embedded text ("{alt}. {description}") does not
ADDED = 4  # records from the bench corpus
QUERIES = [("vegan food delivery", None), ("software", "London"), ("hospital", None), ("payments for small business", None),
           ("machine learning platform", None), ("now with ai", None), ("qr codes", "Atlantis")]


@pytest.fixture(scope="module")
def versions(tmp_path_factory, sample_file):
    """The sample (v1) and an update of it (v2): some records removed, reworded, moved, added."""
    lines = sample_file.read_text().splitlines()
    v2 = []
    for number, line in enumerate(lines, start=1):
        record = json.loads(line)
        if number in REMOVED:
            continue
        if number in REWORDED:
            record["description"] += " Now with AI."
        if number in MOVED:
            record["city"] = "Atlantis"
        v2.append(json.dumps(record))
    with open(BENCH_FILE) as bench:
        v2 += [next(bench).rstrip("\n") for _ in range(ADDED)]
    path = tmp_path_factory.mktemp("versions") / "startups_v2.jsonl"
    path.write_text("\n".join(v2) + "\n")
    return sample_file, path


@pytest.fixture(scope="module")
def updated_vectors(versions, sample_vectors, model_dir, tmp_path_factory):
    """v2 embedded into a copy of v1's --out (its cache), and the run's output."""
    out = tmp_path_factory.mktemp("updated") / "vectors"
    shutil.copytree(sample_vectors, out)
    result = run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(versions[1]), "--out", str(out))
    return out, result


@pytest.fixture(scope="module")
def encoder(model_dir):
    return Encoder.from_export(model_dir)


def upload(input_file, vectors, *extra, env):
    return run_module("scripts.upload", "--input", str(input_file), "--vectors", str(vectors), *extra, env=env)


def answers(storage, encoder) -> list:
    """Everything the service answers, in all modes, with scores and payloads, and the BM25 side of
    hybrid with its scores (a fused score keeps only ranks; BM25's carry its IDF)."""
    service = SearchService(Settings.from_env(), encoder, storage)  # the settings count only for the query cache here
    found = []
    for q, city in QUERIES:
        for mode in MODES:
            found.append((q, city, mode, [(h.id, h.score, h.payload) for h in service.search(q, limit=10, city=city, mode=mode).hits]))
        words = Nearest(service.bm25().query(q), 40, Filters.of({"city": [city]} if city else {}), with_payload=False)
        found.append((q, city, "bm25", [(h.id, h.score) for h in storage._ranked(words)]))
    anchor = found[0][3][0][0]
    found.append([(h.id, h.score) for h in service.run(SimilarRequest(anchor, limit=10)).hits])
    found.append(service.run(FacetRequest("city", 100)).counts)
    return found


def stored(storage) -> list:
    return [(p.id, p.payload, p.vector.tolist(), p.sparse) for p in storage.points()]


def assert_same(synced, fresh) -> None:
    """Equal (ids, order, payloads, cities), numbers to float32 rounding (relative 1e-6): two fresh
    loads of one file on Qdrant Edge differ by that much (its BM25 sums vary in order), and
    qdrant-client's local mode (the stand-in's engine) normalizes a new point's vector in float32
    but a rewritten one's in float64. A stale IDF moves scores by far more."""
    assert _numbers_apart(synced, fresh) <= 1e-6


def _numbers_apart(a, b) -> float:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) / max(1.0, abs(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and type(a) is type(b) and len(a) == len(b):
        return max((_numbers_apart(x, y) for x, y in zip(a, b)), default=0.0)
    if hasattr(a, "indices") and hasattr(b, "indices"):
        return _numbers_apart((a.indices, a.values), (b.indices, b.values))
    assert a == b, (a, b)
    return 0.0


def test_an_update_embeds_only_the_new_and_changed_texts(updated_vectors, versions, model_dir, tmp_path):
    out, result = updated_vectors
    assert result.returncode == 0, result.stderr
    kept = 259 - len(REMOVED)
    # the reworded and the added are embedded; the moved ones keep their text, so their vectors
    assert f"read {kept + ADDED} lines = {len(REWORDED) + ADDED} embedded + {kept - len(REWORDED)} reused + 0 rejected" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert (report["embedded"], report["reused"]) == (len(REWORDED) + ADDED, kept - len(REWORDED))
    fresh = tmp_path / "fresh"
    assert run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(versions[1]), "--out", str(fresh)).returncode == 0
    # the vectors of a run from scratch (the CPU default is batch-invariant to about 1e-7: the batches differ)
    assert np.abs(np.load(out / "vectors.npy") - np.load(fresh / "vectors.npy")).max() < 1e-6
    assert np.array_equal(np.load(out / "lines.npy"), np.load(fresh / "lines.npy"))


def test_a_synced_collection_answers_as_a_fresh_load_on_qdrant_edge(versions, sample_vectors, updated_vectors, encoder, tmp_path):
    v1, v2 = versions
    synced, fresh = {"QDRANT_PATH": str(tmp_path / "synced"), "QDRANT_URL": ""}, {"QDRANT_PATH": str(tmp_path / "fresh"), "QDRANT_URL": ""}
    assert upload(v1, sample_vectors, env=synced).returncode == 0  # loaded as before sync existed
    dry = upload(v2, updated_vectors[0], "--sync", "--dry-run", env=synced)
    assert dry.returncode == 0, dry.stderr
    # point ids come from the content: a reworded or moved record is a new point, its old one goes
    counts = f"{len(REWORDED) + len(MOVED) + ADDED} added, 0 updated (0 payload only), {259 - len(REMOVED) - len(REWORDED) - len(MOVED)} unchanged, " \
             f"{len(REMOVED) + len(REWORDED) + len(MOVED)} deleted"
    assert f"holds 259 points; a sync would make it {counts}; nothing was changed" in dry.stdout
    storage = EdgeStorage(tmp_path / "synced", "startups")
    before = stored(storage)
    storage.close()

    result = upload(v2, updated_vectors[0], "--sync", env=synced)
    assert result.returncode == 0, result.stderr
    assert f"{counts}; collection holds {259 - len(REMOVED) + ADDED}" in result.stdout
    assert upload(v2, updated_vectors[0], env=fresh).returncode == 0

    synced_store, fresh_store = EdgeStorage(tmp_path / "synced", "startups"), EdgeStorage(tmp_path / "fresh", "startups")
    try:
        assert len(before) == 259  # the dry run changed nothing
        assert_same(stored(synced_store), stored(fresh_store))
        assert_same(answers(synced_store, encoder), answers(fresh_store, encoder))
    finally:
        synced_store.close()
        fresh_store.close()
    again = upload(v2, updated_vectors[0], "--sync", env=synced)
    assert f"0 added, 0 updated (0 payload only), {259 - len(REMOVED) + ADDED} unchanged, 0 deleted" in again.stdout


def test_with_a_stable_key_over_http_an_interrupted_sync_run_again_ends_as_a_fresh_load(versions, sample_vectors, updated_vectors, encoder):
    """--id-field name on the server backend (the stand-in over HTTP): a moved record keeps its
    point and gets its new payload; a sync whose deletes fail is run again to the fresh state."""
    v1, v2 = versions
    with QdrantStandin() as qdrant:
        def env(collection):
            return {"QDRANT_URL": qdrant.url, "COLLECTION_NAME": collection}

        assert upload(v1, sample_vectors, "--id-field", "name", env=env("synced")).returncode == 0
        qdrant.clear_log()
        dry = upload(v2, updated_vectors[0], "--sync", "--id-field", "name", "--dry-run", env=env("synced"))
        assert dry.returncode == 0, dry.stderr
        counts = f"{ADDED} added, {len(REWORDED) + len(MOVED)} updated ({len(MOVED)} payload only), " \
                 f"{259 - len(REMOVED) - len(REWORDED) - len(MOVED)} unchanged, {len(REMOVED)} deleted"
        assert counts in dry.stdout
        writes = [r for r in qdrant.requests if r.method in ("PUT", "PATCH", "DELETE") or r.path.endswith(("/delete", "/payload"))]
        assert writes == []  # a dry run reads, never writes

        qdrant.fail_next(10, 503, "/points/delete")
        failed = upload(v2, updated_vectors[0], "--sync", "--id-field", "name", "--retries", "2", env=env("synced"))
        assert failed.returncode == 1 and "deleting points 0..5 of 6 failed" in failed.stderr and "Traceback" not in failed.stderr
        qdrant.reset_faults()
        resumed = upload(v2, updated_vectors[0], "--sync", "--id-field", "name", env=env("synced"))
        assert resumed.returncode == 0, resumed.stderr
        assert f"0 added, 0 updated (0 payload only), {259 - len(REMOVED) + ADDED} unchanged, {len(REMOVED)} deleted" in resumed.stdout
        assert upload(v2, updated_vectors[0], "--id-field", "name", env=env("fresh")).returncode == 0

        synced, fresh = (ServerStorage(qdrant.url, name) for name in ("synced", "fresh"))
        try:
            assert_same(stored(synced), stored(fresh))
            assert_same(answers(synced, encoder), answers(fresh, encoder))
        finally:
            synced.close()
            fresh.close()


def test_a_sync_that_would_delete_most_of_the_collection_is_refused(versions, sample_vectors, model_dir, encoder, tmp_path):
    env = {"QDRANT_PATH": str(tmp_path / "q"), "QDRANT_URL": ""}
    assert upload(versions[0], sample_vectors, env=env).returncode == 0
    few = tmp_path / "few.jsonl"
    few.write_text("".join(versions[0].read_text().splitlines(keepends=True)[:100]))
    vectors = tmp_path / "few-vectors"
    shutil.copytree(sample_vectors, vectors)
    assert run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(few), "--out", str(vectors)).returncode == 0

    typo = upload(few, vectors, "--sync", "--id-field", "nmae", env=env)
    assert typo.returncode == 2 and "--id-field nmae: the built-in startups schema has no field 'nmae' (fields: name, images," in typo.stderr
    twice = tmp_path / "twice.jsonl"
    first = json.loads(few.read_text().splitlines()[0])
    twice.write_text(few.read_text() + json.dumps({**first, "city": "Atlantis"}) + "\n")
    assert run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(twice), "--out", str(vectors)).returncode == 0
    clash = upload(twice, vectors, "--sync", "--id-field", "name", env=env)
    assert clash.returncode == 2 and f"--id-field name is not unique: line 1 and line 101 are different records with name=\"{first['name']}\"" in clash.stderr
    assert run_module("scripts.embed", "--model-dir", str(model_dir), "--input", str(few), "--out", str(vectors)).returncode == 0

    refused = upload(few, vectors, "--sync", env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--sync would delete 159 of the 259 points in 'startups' (61%, more than --max-delete 50%); nothing was changed" in refused.stderr
    assert "--allow-mass-delete" in refused.stderr
    storage = EdgeStorage(tmp_path / "q", "startups")
    assert storage.count() == 259
    storage.close()
    assert upload(few, vectors, "--sync", "--max-delete", "0.6", env=env).returncode == 2
    allowed = upload(few, vectors, "--sync", "--allow-mass-delete", env=env)
    assert allowed.returncode == 0 and "0 added, 0 updated (0 payload only), 100 unchanged, 159 deleted; collection holds 100" in allowed.stdout
    # only deletions, so no segment merge sweeps them out by the way: the vacuum must (BM25's IDF)
    assert upload(few, vectors, env={"QDRANT_PATH": str(tmp_path / "fresh"), "QDRANT_URL": ""}).returncode == 0
    synced_store, fresh_store = EdgeStorage(tmp_path / "q", "startups"), EdgeStorage(tmp_path / "fresh", "startups")
    try:
        assert_same(answers(synced_store, encoder), answers(fresh_store, encoder))
    finally:
        synced_store.close()
        fresh_store.close()


# -- Qdrant Edge's BM25 after deletions (no model: the real BM25 encoder, small dense vectors) ------------------

def test_qdrant_edge_vacuums_deleted_points_out_of_bm25s_idf_across_reopening(sample_file, tmp_path):
    """Shards as an earlier version made them (Qdrant's default vacuum thresholds), indexed from
    the first kilobyte as a 40k collection is: after deleting a tenth and finish_upload(), then
    reopening, BM25 scores equal a fresh load's. Without the vacuum they do not: an indexed
    segment keeps counting its deleted points in BM25's IDF."""
    import uuid

    import qdrant_edge as q

    from handler.storage import Bm25Encoder, PointData, record_text
    from handler.storage.edge import CONFIG_FILE, VACUUM

    bm25 = Bm25Encoder()
    records = [json.loads(line) for line in sample_file.read_text().splitlines()]
    everything = [PointData(str(uuid.UUID(int=i + 1)), np.full(8, 1 / 8**0.5, np.float32) * (1 + i % 3), r, bm25.document(record_text(r)))
                  for i, r in enumerate(records)]
    gone = {p.id for p in everything[::10]}

    def load(name: str, points: list) -> EdgeStorage:
        (tmp_path / name).mkdir()
        config = q.EdgeConfig(vectors=q.EdgeVectorParams(size=8, distance=q.Distance.Cosine),
                              sparse_vectors={"bm25": q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
                              optimizers=q.EdgeOptimizersConfig(indexing_threshold=1))
        q.EdgeShard.create(str(tmp_path / name / "startups"), config).close()
        storage = EdgeStorage(tmp_path / name, "startups")
        storage.upsert(points)
        storage.finish_upload()
        storage.close()
        return storage

    synced, fresh = load("synced", everything), load("fresh", [p for p in everything if p.id not in gone])
    synced.delete(sorted(gone))
    synced.finish_upload()
    synced.close()
    try:
        for words in ("software", "delivery", "health care", "data analytics platform"):
            query = Nearest(bm25.query(words), 30, with_payload=False)
            assert_same([(h.id, h.score) for h in synced._ranked(query)], [(h.id, h.score) for h in fresh._ranked(query)])
        persisted = json.loads((tmp_path / "synced" / "startups" / CONFIG_FILE).read_text())["optimizers"]
        assert {k: persisted[k] for k in VACUUM} == VACUUM and persisted["indexing_threshold"] == 1  # the shard's own settings kept
    finally:
        synced.close()
        fresh.close()


def test_bench_sync_prints_every_row(model_dir, tmp_path):
    """scripts.bench_sync as documented, on a tiny slice (figures are for people, not judged here)."""
    result = run_module("scripts.bench_sync", "--model-dir", str(model_dir), "--limit", "120", "--change", "0.1", "--work", str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr
    assert "update: scripts.embed v2" in result.stdout and "faster than the full run" in result.stdout
    assert "read 120 lines = 8 embedded + 112 reused + 0 rejected" in result.stdout  # 4 reworded + 4 added
    for what in ("hybrid", "neural (exact)", "text", "BM25 alone"):
        assert f"  {what:<16}  20/20" in result.stdout, what
    # before and after in one run (this checkout as its own baseline), the full run's vectors reused
    both = run_module("scripts.bench_sync", "--model-dir", str(model_dir), "--limit", "120", "--change", "0.1", "--work", str(tmp_path),
                      "--reuse", "--baseline", str(ROOT), timeout=600)
    assert both.returncode == 0, both.stderr
    assert "full run: scripts.embed v1" in both.stdout and "not timed: --reuse" in both.stdout and "no ratio" in both.stdout
    for side in ("before", "after"):
        assert f"update: scripts.upload v2 --sync ({side})" in both.stdout and f"update (embed + upload --sync) ({side})" in both.stdout
    assert "synced (before)  |  synced (after)  |  fresh load again" in both.stdout
    assert f"  {'BM25 alone':<16}  20/20" in both.stdout
