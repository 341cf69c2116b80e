"""A catalogue of another schema end to end: the PyPI packages (`../shared/data/pypi_packages_20k.jsonl`,
its first 2,000 lines) described by `examples/packages.toml`, embedded and uploaded by the scripts as a
user runs them, then searched through the API (every mode, filters, facets, similar, pages, unknown
parameters refused), kept current with `--sync` (a stable key: edited records keep their point), and
served by the Lambda artifact through AWS's runtime client. Real model, real Qdrant Edge."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from handler.common import load_schema
from handler.web import create_app
from tests.support.helpers import PACKAGES_FILE, REPO, load_event, make_settings, run_module

SCHEMA_FILE = REPO / "examples" / "packages.toml"
LINES = 2000
RUNTIME_PYTHON = REPO / ".venv312" / "bin" / "python"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """The first LINES packages, and a copy of them edited as a new release would: 20 summaries
    reworded, 10 packages gone, 10 new ones."""
    if not PACKAGES_FILE.is_file():
        pytest.fail(f"test data missing: {PACKAGES_FILE} (the shared data folder beside the repo)")
    root = tmp_path_factory.mktemp("packages")
    lines = PACKAGES_FILE.read_text().splitlines()
    first = root / "packages.jsonl"
    first.write_text("\n".join(lines[:LINES]) + "\n")
    records = [json.loads(line) for line in lines[:LINES]]
    for record in records[:20]:
        record["summary"] = f"{record['summary']} (now with async support)"
    kept = records[:LINES - 10] + [json.loads(line) for line in lines[LINES:LINES + 10]]
    second = root / "packages-v2.jsonl"
    second.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in kept) + "\n")
    return first, second, records


@pytest.fixture(scope="module")
def loaded(model_dir, catalogue, tmp_path_factory):
    """QDRANT_PATH holding `packages`, embedded and uploaded by the scripts with SCHEMA_FILE set."""
    first, _, _ = catalogue
    root = tmp_path_factory.mktemp("packages-store")
    env = {"SCHEMA_FILE": str(SCHEMA_FILE), "QDRANT_PATH": str(root / "qdrant"), "QDRANT_URL": "", "MODEL_DIR": str(model_dir)}
    embedded = run_module("scripts.embed", "--input", str(first), "--out", str(root / "vectors"), env=env)
    assert embedded.returncode == 0, embedded.stderr
    uploaded = run_module("scripts.upload", "--input", str(first), "--vectors", str(root / "vectors"), env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    assert f"uploaded {LINES} points into 'packages'" in uploaded.stdout
    return root, env


@pytest.fixture(scope="module")
def client(model_dir, loaded):
    root, _ = loaded
    settings = replace(make_settings(model_dir, root / "qdrant"), schema=load_schema(str(SCHEMA_FILE)), collection_name="packages")
    app = create_app(settings)
    yield TestClient(app)
    app.state.service.storage.close()


def search(client, **params):
    response = client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_mode_finds_a_package_by_its_name_and_by_what_it_does(client, catalogue):
    _, _, records = catalogue
    name = records[5]["package"]
    for mode in ("hybrid", "neural", "text"):
        body = search(client, q=name, mode=mode)
        assert body["result"][0]["package"] == name, (mode, [r["package"] for r in body["result"]])
        assert set(body["result"][0]) == {"package", "version", "released", "downloads_rank", "summary"}  # the record, no folded copy
    assert search(client, q="pytest plugin for coverage reports", mode="hybrid")["result"]


def test_filters_ranges_and_their_and(client, catalogue):
    _, _, records = catalogue
    month = next(r["released"] for r in records if r["released"])
    found = search(client, q="command line tool", released=f" {month.upper()} ", limit=20)["result"]
    assert found and {r["released"] for r in found} == {month}
    top = search(client, q="http client", downloads_rank_max="1000", limit=20)["result"]
    assert top and all(r["downloads_rank"] is not None and r["downloads_rank"] <= 1000 for r in top)
    both = search(client, q="http client", released=month, downloads_rank_min="1", downloads_rank_max="15000", limit=50, mode="text")["result"]
    assert all(r["released"] == month and r["downloads_rank"] is not None for r in both)
    months = sorted({r["released"] for r in records if r["released"]})[:2]
    two = search(client, q="data", released=months, limit=50, mode="neural")["result"]
    assert two and {r["released"] for r in two} <= set(months)


def test_bad_filters_and_unknown_parameters_are_422s_naming_them(client):
    for params, parameter in (({"downloads_rank_min": "1e3"}, "downloads_rank_min"), ({"downloads_rank_max": "ten"}, "downloads_rank_max"),
                              ({"downloads_rank_min": "9", "downloads_rank_max": "2"}, "downloads_rank_max"), ({"city": "London"}, "city"),
                              ({"relased": "2024-10"}, "relased")):
        response = client.get("/api/search", params={"q": "json", **params})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", parameter], (params, response.text)
    unknown = client.get("/api/search", params={"q": "json", "relased": "2024-10"}).json()["detail"][0]["msg"]
    assert "unknown parameter" in unknown and "released" in unknown and "downloads_rank_max" in unknown
    assert client.get("/api/cities").status_code == 404  # the startups schema's, not this one's


def test_facets_similar_and_pages(client, catalogue):
    _, _, records = catalogue
    facet = client.get("/api/facets/released", params={"limit": 5}).json()
    counts = {}
    for r in records:
        if r["released"]:
            counts[r["released"]] = counts.get(r["released"], 0) + 1
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
    assert facet == {"field": "released", "values": [{"value": v, "count": c} for v, c in expected]}
    assert client.get("/api/facets/version").status_code == 422  # not a keyword field
    anchor = search(client, q="yaml parser", mode="neural")["hits"][0]["id"]
    similar = client.get("/api/similar", params={"id": anchor, "limit": 5, "downloads_rank_max": "15000"}).json()
    assert similar["mode"] == "similar" and anchor not in [h["id"] for h in similar["hits"]]
    assert all(r["downloads_rank"] is not None for r in similar["result"])
    whole = [h["id"] for h in search(client, q="testing", limit=20)["hits"]]
    assert [h["id"] for h in search(client, q="testing", limit=10, offset=10)["hits"]] == whole[10:20]


def test_the_page_and_the_docs_follow_the_schema(client):
    page = client.get("/").text
    assert "Python package search" in page and 'data-keyword="released"' in page and 'data-range="downloads_rank"' in page
    spec = client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert {"released", "downloads_rank_min", "downloads_rank_max"} <= names and "city" not in names
    assert "/api/facets/{field}" in spec["paths"] and "/api/cities" not in spec["paths"]


def test_a_changed_catalogue_is_synced_with_its_key(model_dir, loaded, catalogue, tmp_path):
    """The schema's key keeps each package's point: reworded summaries are updated in place
    (vectors and payloads), removed packages deleted, new ones added; only the changed texts are
    embedded again."""
    root, env = loaded
    _, second, records = catalogue
    store = tmp_path / "qdrant"
    subprocess.run(["cp", "-r", str(root / "qdrant"), str(store)], check=True)  # the module's service holds the original
    vectors = tmp_path / "vectors"
    subprocess.run(["cp", "-r", str(root / "vectors"), str(vectors)], check=True)
    env = {**env, "QDRANT_PATH": str(store)}
    embedded = run_module("scripts.embed", "--input", str(second), "--out", str(vectors), env=env)
    assert embedded.returncode == 0 and "30 embedded + 1970 reused" in embedded.stdout, embedded.stdout + embedded.stderr
    synced = run_module("scripts.upload", "--input", str(second), "--vectors", str(vectors), "--sync", env=env)
    assert synced.returncode == 0, synced.stderr
    assert "10 added, 20 updated (0 payload only), 1970 unchanged, 10 deleted; collection holds 2000" in synced.stdout


def test_the_lambda_artifact_serves_the_catalogue(model_dir, loaded, tmp_path):
    """Built with --schema and the packages shard baked in, run through AWS's runtime client: a
    filtered search answers from the catalogue; the same artifact given the startups schema refuses
    to start, naming the fields that differ."""
    if not RUNTIME_PYTHON.exists():
        pytest.skip("no .venv312 (Python 3.12 + awslambdaric): scripts/setup_env.sh makes it where Python 3.12 exists")
    sys.path.insert(0, str(REPO / "infra"))
    from local_invoke import LocalLambda

    root, _ = loaded
    shard = tmp_path / "bake"
    subprocess.run(["cp", "-r", str(root / "qdrant"), str(shard)], check=True)
    out = tmp_path / "artifact"
    built = subprocess.run([sys.executable, "infra/build_artifact.py", "--mode", "embedded", "--out", str(out), "--model-dir", str(model_dir),
                            "--shard", str(shard / "packages"), "--schema", str(SCHEMA_FILE)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    assert (out / "schema.toml").read_text() == SCHEMA_FILE.read_text()
    env = {"QDRANT_PATH": str(tmp_path / "unpacked"), "QDRANT_SHARD_SOURCE": str(out / "qdrant_shard.zip"), "COLLECTION_NAME": ""}
    local = LocalLambda(out, str(RUNTIME_PYTHON), env)
    try:
        local.wait_ready()
        payload, _, _ = local.invoke(load_event(path="/api/search", query={"q": "parse yaml files", "downloads_rank_max": "15000"}))
        body = json.loads(payload["body"])
        assert payload["statusCode"] == 200 and body["result"] and all(r["downloads_rank"] is not None for r in body["result"])
    finally:
        local.close()
    wrong = LocalLambda(out, str(RUNTIME_PYTHON), {**env, "SCHEMA_FILE": ""})  # the built-in startups schema
    try:
        with pytest.raises(RuntimeError, match=r"built with another schema .*package: absent here, text there"):
            wrong.wait_ready(timeout_s=60)
    finally:
        wrong.close()
