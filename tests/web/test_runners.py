"""Where requests run: `Worker` (`python -m handler`) micro-batches the model, keeps Qdrant calls
off the model thread, never starts work past its deadline or for a client that left, and keeps
/health apart. The scheduling tests use a scripted service (a STAND-IN: it records calls and
blocks or fails on cue, so timing is under the test's control); the last test runs the real
service and compares every answer with the inline runner's."""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import threading
import time

import numpy as np
import pytest

from handler.common import RequestExpired
from handler.search import SearchRequest, SearchResult, SearchService
from handler.storage import Filters
from handler.web.runners import Inline, Worker


class ScriptedService:
    """Stand-in for SearchService's named steps: embed_queries() returns each text's length as its
    vector; answer() returns the hits [(q, vector)] (never a weak match) and can block until released,
    or fail for q == "boom". `entered` gets each answer()'s q as it starts (before the gate);
    `model_gate`, when cleared, holds every embed_queries() call (recorded first in `calls`) until set."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.asked: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered: queue.SimpleQueue = queue.SimpleQueue()
        self.model_gate = threading.Event()
        self.model_gate.set()
        self.calls: list[list[str]] = []  # every embed_queries() call, failed ones included

    def embed_queries(self, texts, wide=True):
        self.calls.append(list(texts))
        self.model_gate.wait()
        if "bad" in texts and len(texts) > 1:
            raise RuntimeError("one bad text fails its batch")
        if texts == ["bad"]:
            raise RuntimeError("bad text")
        self.batches.append(list(texts))
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    def answer(self, request, vector, embed_ms=0.0):
        self.entered.put(request.q)
        self.gate.wait()
        self.asked.append(request.q)
        if request.q == "boom":
            raise RuntimeError("boom")
        return SearchResult([(request.q, None if vector is None else float(vector[0]))], request.mode, embed_ms, 0.0)

    def health(self):
        return "healthy"

    def cached_vector(self, text):  # the query cache: off here (tests/search/test_query_cache.py tests it)
        return None


WAIT_S = 10  # how long a test waits for what must happen; only a failing test ever waits that long


def run(coroutine):
    return asyncio.run(coroutine)


async def entered(service: ScriptedService) -> str:
    """The q of the next answer() that starts (in a Qdrant thread)."""
    try:
        return await asyncio.to_thread(service.entered.get, timeout=WAIT_S)
    except queue.Empty:
        raise AssertionError(f"no Qdrant call started within {WAIT_S} s") from None


async def until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_S} s"
        await asyncio.sleep(0.005)


def queued_for_the_model(calls: list[list[str]], worker: Worker) -> int:
    """Texts the model threads have taken (their calls, held by a gate) plus those waiting for them."""
    return sum(len(call) for call in calls) + worker.jobs.qsize()


def test_concurrent_searches_share_model_calls_and_each_gets_its_own_answer():
    service = ScriptedService()
    service.model_gate.clear()  # the first model call is busy until every search has arrived
    worker = Worker(service, timeout=WAIT_S)
    texts = [f"query {'x' * i}" for i in range(10)] + ["boom", "bad"]

    async def main():
        searches = [asyncio.ensure_future(worker.run(SearchRequest(t, mode="neural"))) for t in texts]
        await until(lambda: queued_for_the_model(service.calls, worker) == len(texts), "every search queued for the model")
        service.model_gate.set()
        return await asyncio.gather(*searches, return_exceptions=True)

    results = run(main())
    worker.close()
    for text, result in zip(texts, results):
        if text in ("boom", "bad"):
            assert isinstance(result, RuntimeError), text  # the failure stays with its request
        else:
            assert result.hits == [(text, float(len(text)))] and result.embed_ms > 0
    assert max(len(call) for call in service.calls) > 1  # micro-batched
    assert sorted(t for b in service.batches for t in b) == sorted(t for t in texts if t != "bad")  # each text embedded once in the end


def test_text_mode_never_waits_for_the_model():
    service = ScriptedService()
    worker = Worker(service, timeout=WAIT_S)
    result = run(worker.run(SearchRequest("plain words", mode="text")))
    worker.close()
    assert result.hits == [("plain words", None)] and service.batches == []


def test_work_still_queued_at_the_deadline_is_never_started():
    timeout = 0.3
    service = ScriptedService()
    service.gate.clear()
    worker = Worker(service, timeout=timeout, io_threads=1)

    async def main():
        return await asyncio.gather(*(worker.run(SearchRequest(q, mode="text")) for q in ("first", "second")), return_exceptions=True)

    started = time.perf_counter()
    results = run(main())
    took = time.perf_counter() - started
    service.gate.set()
    worker.io.shutdown(wait=True)  # whatever the pool still holds runs (or is skipped) now
    worker.close()
    assert all(isinstance(r, RequestExpired) for r in results), results
    # answered at the deadline (the gate stayed closed until after: without one, never); the margin is for a loaded machine
    assert timeout - 0.01 <= took < timeout + 2, took
    assert service.asked == ["first"]  # it had started; the queued one never did


def test_a_cancelled_request_is_skipped():
    """A client that leaves cancels its request (the CancelOnDisconnect middleware)."""
    service = ScriptedService()
    service.gate.clear()
    worker = Worker(service, timeout=WAIT_S, io_threads=1)

    async def main():
        first = asyncio.ensure_future(worker.run(SearchRequest("first", mode="text")))
        left = asyncio.ensure_future(worker.run(SearchRequest("left", mode="text")))
        assert await entered(service) == "first"  # the one Qdrant thread is held; "left" waits for it
        left.cancel()
        await asyncio.gather(left, return_exceptions=True)
        service.gate.set()
        return await first

    assert run(main()).hits == [("first", None)]
    worker.io.shutdown(wait=True)  # had "left" stayed queued, it would run now
    worker.close()
    assert service.asked == ["first"]


def test_health_never_waits_behind_searches():
    service = ScriptedService()
    service.gate.clear()
    worker = Worker(service, timeout=3 * WAIT_S, io_threads=2)

    async def main():
        busy = [asyncio.ensure_future(worker.run(SearchRequest(f"q{i}", mode="text"))) for i in range(4)]
        for _ in range(2):
            await entered(service)  # both Qdrant threads are held, two more searches queued behind them
        try:  # behind the searches, /health would wait for the gate, which opens only after it answers
            return await asyncio.wait_for(worker.probe(service.health), WAIT_S)
        except asyncio.TimeoutError:
            raise AssertionError(f"/health waited behind the searches for {WAIT_S} s") from None
        finally:
            service.gate.set()
            await asyncio.gather(*busy)

    assert run(main()) == "healthy"
    worker.close()


def test_the_worker_answers_what_inline_answers(service):
    """The real service, its query cache off (else the inline run would read back the worker's
    vectors): 24 concurrent searches of every mode and city, micro-batched, equal one by one to the
    inline runner's (the CPU default, int8 or int8_unsigned, is batch-invariant)."""
    uncached = SearchService(dataclasses.replace(service.settings, query_cache_size=0), service.encoder, service.storage)
    requests = [SearchRequest(q, limit, Filters.of({"city": [city]} if city else {}), mode) for q in ("food delivery", "hospital software", "payments", "QR codes", "machine learning", "bikes")
                for limit, city, mode in ((5, None, "hybrid"), (3, "London", "neural"), (10, None, "text"), (5, "San Francisco", "hybrid"))]
    calls, everyone = [], threading.Event()

    def embed_queries(texts, wide=True, real=uncached.embed_queries):  # the first model call waits for every search: the rest go as one batch
        calls.append(list(texts))
        everyone.wait(WAIT_S)
        return real(texts, wide)

    uncached.embed_queries = embed_queries
    worker, inline = Worker(uncached, timeout=3 * WAIT_S), Inline(uncached)

    async def main():
        together = [asyncio.ensure_future(worker.run(r)) for r in requests]
        await until(lambda: queued_for_the_model(calls, worker) == sum(r.needs_vector for r in requests), "every search queued for the model")
        everyone.set()
        together = await asyncio.gather(*together)
        alone = [await inline.run(r) for r in requests]
        return together, alone

    together, alone = run(main())
    worker.close()
    assert max(len(call) for call in calls) > 1 and uncached.cached_vector(requests[0].q) is None  # batched, and nothing cached
    for request, a, b in zip(requests, together, alone):
        assert [h.id for h in a.hits] == [h.id for h in b.hits], request
        assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits], abs=1e-6), request


def test_the_model_thread_survives_an_error_in_the_model_step():
    from handler.search import SearchRequest, SearchResult
    from handler.web.runners import Worker

    class Service:  # STAND-IN for the service: its model step fails once, for "one"
        def cached_vector(self, text):
            return None

        def embed_queries(self, texts, wide=True):
            if texts == ["one"]:
                raise RuntimeError("the model step broke")
            return np.ones((len(texts), 2), np.float32)

        def answer(self, request, vector, embed_ms=0.0):
            return SearchResult([request.q], request.mode, embed_ms, 0.0)

    worker = Worker(Service(), timeout=5)

    async def two():
        first = await asyncio.gather(worker.run(SearchRequest("one", mode="neural")), return_exceptions=True)
        second = await worker.run(SearchRequest("two", mode="neural"))
        return first[0], second

    first, second = asyncio.run(two())
    assert isinstance(first, RuntimeError) and second.hits == ["two"] and worker.alive()
    worker.close()
