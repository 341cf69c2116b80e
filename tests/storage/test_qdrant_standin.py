"""The Qdrant REST STAND-IN (`tests.support.qdrant_standin`) against the real qdrant-client over HTTP.

Every answer that comes through the stand-in is compared with the same call on a local-mode client
held directly and loaded with the same data: the stand-in must add nothing and lose nothing on the
way (models, defaults, ids, scores, payloads). The calls are those the service's ServerStorage
makes (searches go as query batches). Then what local mode cannot tell: the recorded collection
config, the api key, the server's error statuses, and the fault switches. The engine
under both sides is local mode, so nothing here says how a real Qdrant server ranks or indexes."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from tests.support.qdrant_standin import QdrantStandin

pytestmark = [
    pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection"),
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant"),
    pytest.mark.filterwarnings("ignore:Local mode performs exact"),
    pytest.mark.filterwarnings("ignore:Qdrant client version"),  # check_compatibility: client 1.20 vs the stand-in's default 1.16
]

KEY = "test-api-key"
DIM, N = 384, 300
CITIES = ["Berlin", "Paris", "London", "Lisbon", "Oslo"]
WORDS = ["robot", "bank", "health", "cloud", "food", "ai", "energy", "travel", "music", "games"]


def make_points(n: int = N, seed: int = 7) -> list[m.PointStruct]:
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, DIM)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    points = []
    for i in range(n):
        indices = sorted(rng.choice(200, size=6, replace=False).tolist())
        sparse = m.SparseVector(indices=indices, values=rng.uniform(0.5, 2.0, size=6).round(3).tolist())
        text = " ".join(rng.choice(WORDS, size=4).tolist())
        points.append(m.PointStruct(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"p{i}")), vector={"": dense[i].tolist(), "bm25": sparse},
                                    payload={"name": f"startup {i}", "city": CITIES[i % len(CITIES)], "description": text, "n": i}))
    return points


POINTS = make_points()
IDS = [p.id for p in POINTS]


def load(client: QdrantClient, name: str, points=POINTS, **create) -> None:
    """What the service's ServerStorage does: dense cosine + bm25 sparse with IDF, two payload indexes, one upsert."""
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE),
                             sparse_vectors_config={"bm25": m.SparseVectorParams(modifier=m.Modifier.IDF)}, **create)
    client.create_payload_index(name, "city", m.PayloadSchemaType.KEYWORD, wait=True)
    text = m.TextIndexParams(type=m.TextIndexType.TEXT, tokenizer=m.TokenizerType.WORD, lowercase=True)
    client.create_payload_index(name, "description", text, wait=True)
    client.upsert(name, points=points, wait=True)


def connect(standin: QdrantStandin, **kwargs) -> QdrantClient:
    return QdrantClient(url=standin.url, prefer_grpc=False, **{"api_key": KEY, "check_compatibility": False, **kwargs})


@pytest.fixture(scope="module")
def standin():
    with QdrantStandin(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def both(standin):
    """(client over HTTP to the stand-in, local-mode client held directly), both loaded with the same `startups`."""
    remote, reference = connect(standin), QdrantClient(":memory:")
    for client in (remote, reference):
        load(client, "startups")
    yield remote, reference
    remote.close()
    reference.close()


@pytest.fixture
def scratch(both):
    """A small collection on both sides for tests that write."""
    for client in both:
        load(client, "scratch", POINTS[:40])
    yield both
    for client in both:
        client.delete_collection("scratch")


def same(http, ref) -> None:
    """Equal as the service reads them, including ids as strings and every score to the last bit."""
    def rows(points):
        return [(str(p.id), getattr(p, "score", None), p.payload, p.vector) for p in points]
    assert rows(http) == rows(ref)
    assert len(rows(ref)) > 0  # an empty answer on both sides would prove nothing


def query(client: QdrantClient, collection: str = "startups", **request):
    """One search as ServerStorage sends it: a query batch of one."""
    return client.query_batch_points(collection, requests=[m.QueryRequest(**request)])[0].points


def test_dense_query_with_filter_offset_and_search_params_match_local_mode(both):
    vector = POINTS[3].vector[""]
    berlin = m.Filter(must=[m.FieldCondition(key="city", match=m.MatchValue(value="Berlin"))])
    for request in ({}, {"filter": berlin}, {"offset": 5}, {"params": m.SearchParams(hnsw_ef=128, exact=True)}):
        http, ref = (query(c, query=vector, limit=7, with_payload=True, **request) for c in both)
        same(http, ref)
    assert {p.payload["city"] for p in query(both[0], query=vector, filter=berlin, limit=20, with_payload=True)} == {"Berlin"}


def test_sparse_idf_query_matches_local_mode(both):
    sparse = POINTS[5].vector["bm25"]
    same(*(query(c, query=sparse, using="bm25", limit=10, with_payload=True) for c in both))


def test_scroll_count_facet_retrieve_match_local_mode(both):
    text = m.Filter(must=[m.FieldCondition(key="description", match=m.MatchText(text="robot")),
                          m.FieldCondition(key="city", match=m.MatchValue(value="Oslo"))])
    (http, http_next), (ref, ref_next) = (c.scroll("startups", scroll_filter=text, limit=5, with_payload=True) for c in both)
    same(http, ref)
    assert str(http_next) == str(ref_next)
    some = m.Filter(must=[m.HasIdCondition(has_id=IDS[:17])], must_not=[m.HasIdCondition(has_id=[IDS[0]])])
    assert [c.count("startups", count_filter=some, exact=True).count for c in both] == [16, 16]
    assert both[0].count("startups").count == N
    assert both[0].facet("startups", key="city", limit=10, exact=True) == both[1].facet("startups", key="city", limit=10, exact=True)
    same(*(c.retrieve("startups", ids=IDS[:3], with_vectors=True, with_payload=False) for c in both))
    assert both[0].retrieve("startups", ids=[IDS[0]], with_vectors=True)[0].vector["bm25"] == POINTS[0].vector["bm25"]


def test_query_by_point_id_and_a_batch_of_two_match_local_mode(both):
    http, ref = (query(c, query=IDS[4], limit=5, with_payload=True) for c in both)
    same(http, ref)
    assert IDS[4] not in [str(p.id) for p in http]  # the server leaves the query point out; so must the stand-in
    requests = [m.QueryRequest(query=POINTS[1].vector[""], limit=3, with_payload=True),
                m.QueryRequest(query=POINTS[2].vector["bm25"], using="bm25", limit=4)]
    http, ref = (c.query_batch_points("startups", requests=requests) for c in both)
    assert len(http) == 2
    for h, r in zip(http, ref):
        same(h.points, r.points)
    assert http[1].points[0].payload is None  # the server's default: no payload unless asked


def test_deletes_by_ids_and_by_filter_match_local_mode(scratch):
    lisbon = m.Filter(must=[m.FieldCondition(key="city", match=m.MatchValue(value="Lisbon"))])
    for client in scratch:
        client.delete("scratch", points_selector=m.PointIdsList(points=IDS[:3]), wait=True)
        client.delete("scratch", points_selector=m.FilterSelector(filter=lisbon), wait=True)
    (http, _), (ref, _) = (c.scroll("scratch", limit=100, with_payload=True) for c in scratch)
    same(http, ref)
    assert len(http) == 40 - 3 - 8  # 8 of the 40 are in Lisbon (i % 5 == 3), none among the first three
    assert scratch[0].delete("scratch", points_selector=m.PointIdsList(points=[IDS[9]]), wait=False).status == m.UpdateStatus.ACKNOWLEDGED


def test_collection_config_is_recorded_and_patched(standin):
    client = connect(standin)
    load(client, "deferred", POINTS[:20], shard_number=3, replication_factor=2, hnsw_config=m.HnswConfigDiff(m=0, ef_construct=200))
    config = client.get_collection("deferred").config
    assert (config.params.shard_number, config.params.replication_factor, config.hnsw_config.m, config.hnsw_config.ef_construct) == (3, 2, 0, 200)
    client.update_collection("deferred", hnsw_config=m.HnswConfigDiff(m=16))
    info = client.get_collection("deferred")
    assert (info.config.hnsw_config.m, info.config.hnsw_config.ef_construct, info.config.params.shard_number) == (16, 200, 3)
    assert info.points_count == 20 and sorted(info.config.params.sparse_vectors) == ["bm25"]
    assert info.config.params.sparse_vectors["bm25"].modifier == m.Modifier.IDF
    assert info.payload_schema["city"].data_type == m.PayloadSchemaType.KEYWORD and info.payload_schema["city"].points == 20
    assert info.payload_schema["description"].params.lowercase is True
    client.delete_collection("deferred")
    with pytest.raises(UnexpectedResponse) as gone:
        client.get_collection("deferred")
    assert gone.value.status_code == 404
    client.close()


def test_api_key_sent_on_every_request_and_refused_when_missing_or_wrong(standin, both):
    standin.clear_log()
    both[0].count("startups")
    both[0].get_collection("startups")
    query(both[0], query=POINTS[0].vector[""], limit=2)
    sent = standin.requests
    assert len(sent) == 3 and all(r.headers.get("api-key") == KEY and r.status == 200 for r in sent)
    for kwargs, reason in (({"api_key": None}, b"Must provide an API key"), ({"api_key": "wrong"}, b"Invalid API key")):
        with pytest.raises(UnexpectedResponse) as refused:
            connect(standin, **kwargs).count("startups")
        assert refused.value.status_code == 401 and reason in refused.value.content
    assert httpx.get(standin.url).json()["version"] == QdrantStandin.VERSION  # open without a key, as on the server


def test_missing_collection_is_a_404_and_client_mistakes_are_400s(standin, both):
    remote = both[0]
    for call in (lambda: remote.get_collection("nope"), lambda: remote.count("nope"), lambda: query(remote, "nope", query=[0.1] * DIM)):
        with pytest.raises(UnexpectedResponse) as missing:
            call()
        assert missing.value.status_code == 404
        assert missing.value.structured()["status"]["error"] == "Not found: Collection `nope` doesn't exist!"
    remote.create_collection("dense_only", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    remote.upsert("dense_only", points=[m.PointStruct(id=1, vector=POINTS[0].vector[""])])
    with pytest.raises(UnexpectedResponse) as no_sparse:
        query(remote, "dense_only", query=POINTS[0].vector["bm25"], using="bm25")
    assert no_sparse.value.status_code == 400
    assert no_sparse.value.structured()["status"]["error"] == "Wrong input: Not existing vector name error: bm25"
    remote.delete_collection("dense_only")
    headers = {"api-key": KEY, "content-type": "application/json"}
    broken = httpx.post(f"{standin.url}/collections/startups/points/query/batch", content=b'{"searches": ', headers=headers)
    wrong_type = httpx.post(f"{standin.url}/collections/startups/points/scroll", json={"limit": "ten"}, headers=headers)
    unknown = httpx.post(f"{standin.url}/collections/startups/points/discover", json={}, headers=headers)
    assert [r.status_code for r in (broken, wrong_type, unknown)] == [400, 400, 501]
    assert broken.json()["status"]["error"].startswith("Format error in JSON body")


def test_it_stops_cleanly():
    with QdrantStandin() as standin:
        assert httpx.get(standin.url).json()["version"] == QdrantStandin.VERSION
    assert not standin._thread.is_alive()  # the server thread is gone
    with pytest.raises(httpx.ConnectError):
        httpx.get(standin.url)


def test_hang_makes_a_client_time_out_while_other_routes_are_served(standin):
    timeout = 1
    client = connect(standin, timeout=timeout)
    standin.hang("/points/count")
    try:
        started = time.monotonic()
        with pytest.raises(ResponseHandlingException):
            client.count("startups")
        elapsed = time.monotonic() - started
        # it waited its timeout (held, not refused), then gave up (held until release: without one, never); margin for a loaded machine
        assert timeout - 0.05 < elapsed < timeout + 3, elapsed
        assert client.get_collection("startups").points_count == N  # only the matching route hangs
        assert [r.status for r in standin.requests if r.path.endswith("/count")][-1] is None  # received, never answered
    finally:
        standin.release()
    assert client.count("startups").count == N
    client.close()


def test_fail_next(standin, both):
    standin.fail_next(2, status=503, route="/points/count")
    for _ in range(2):
        with pytest.raises(UnexpectedResponse) as failed:
            both[0].count("startups")
        assert failed.value.status_code == 503
    assert both[0].count("startups").count == N
    standin.fail_next(1, status=500)
    standin.reset_faults()
    assert both[0].count("startups").count == N


def test_concurrent_clients_are_served_one_call_at_a_time(scratch):
    remote = scratch[0]
    def work(i: int) -> int:
        point = POINTS[i % 40]
        remote.upsert("scratch", points=[m.PointStruct(id=point.id, vector=point.vector, payload={**point.payload, "touched": i})], wait=True)
        return remote.count("scratch").count
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(work, range(64))) == {40}


def test_check_compatibility_true_reads_the_version_and_does_not_crash(standin):
    standin.clear_log()
    client = connect(standin, check_compatibility=True)
    assert client.count("startups").count == N
    deadline = time.monotonic() + 5
    while not any(r.path == "/" and r.status == 200 for r in standin.requests) and time.monotonic() < deadline:
        time.sleep(0.01)
    version_check = [r for r in standin.requests if r.path == "/"]
    assert version_check and version_check[0].headers.get("api-key") == KEY
    client.close()
