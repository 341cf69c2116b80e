"""Where requests run: `Worker` (`python -m handler`) micro-batches the model, keeps Qdrant calls
off the model thread, never starts work past its deadline or for a client that left, and keeps
/health apart. The scheduling tests use a scripted service (a STAND-IN: it records calls and
blocks or fails on cue, so timing is under the test's control); the last test runs the real
service and compares every answer with the inline runner's."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from handler.runners import Inline, RequestExpired, Worker
from handler.service import SearchRequest


class ScriptedService:
    """Stand-in for SearchService's two steps: embed() returns each text's length as its vector;
    ask() returns the hits [(q, vector)] (never a weak match) and can block until released, or fail for q == "boom"."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.asked: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.calls: list[list[str]] = []  # every embed() call, failed ones included
        self.slow_embed = 0.0

    def embed(self, texts):
        self.calls.append(list(texts))
        time.sleep(self.slow_embed)
        if "bad" in texts and len(texts) > 1:
            raise RuntimeError("one bad text fails its batch")
        if texts == ["bad"]:
            raise RuntimeError("bad text")
        self.batches.append(list(texts))
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    def ask(self, request, vector):
        self.gate.wait()
        self.asked.append(request.q)
        if request.q == "boom":
            raise RuntimeError("boom")
        return [(request.q, None if vector is None else float(vector[0]))], False

    def health(self):
        return "healthy"

    def cached(self, text):  # the query cache: off here (tests/test_query_cache.py tests it)
        return None

    def remember(self, text, vector):
        pass


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_searches_share_model_calls_and_each_gets_its_own_answer():
    service = ScriptedService()
    service.slow_embed = 0.05  # the first call is busy while the others arrive
    worker = Worker(service, timeout=10)
    texts = [f"query {'x' * i}" for i in range(10)] + ["boom", "bad"]

    async def main():
        return await asyncio.gather(*(worker.search(SearchRequest(t, mode="neural")) for t in texts), return_exceptions=True)

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
    worker = Worker(service, timeout=10)
    result = run(worker.search(SearchRequest("plain words", mode="text")))
    worker.close()
    assert result.hits == [("plain words", None)] and service.batches == []


def test_work_still_queued_at_the_deadline_is_never_started():
    service = ScriptedService()
    service.gate.clear()
    worker = Worker(service, timeout=0.3, io_threads=1)

    async def main():
        return await asyncio.gather(*(worker.search(SearchRequest(q, mode="text")) for q in ("first", "second")), return_exceptions=True)

    started = time.perf_counter()
    results = run(main())
    took = time.perf_counter() - started
    service.gate.set()
    time.sleep(0.1)
    worker.close()
    assert all(isinstance(r, RequestExpired) for r in results) and took < 1
    assert service.asked == ["first"]  # it had started; the queued one never did


def test_a_cancelled_request_is_skipped():
    """A client that leaves cancels its request (handler.middleware.CancelOnDisconnect)."""
    service = ScriptedService()
    service.gate.clear()
    worker = Worker(service, timeout=10, io_threads=1)

    async def main():
        first = asyncio.ensure_future(worker.search(SearchRequest("first", mode="text")))
        left = asyncio.ensure_future(worker.search(SearchRequest("left", mode="text")))
        await asyncio.sleep(0.1)
        left.cancel()
        await asyncio.sleep(0.05)
        service.gate.set()
        return await first

    assert run(main()).hits == [("first", None)]
    time.sleep(0.1)
    worker.close()
    assert service.asked == ["first"]


def test_health_never_waits_behind_searches():
    service = ScriptedService()
    service.gate.clear()
    worker = Worker(service, timeout=10, io_threads=2)

    async def main():
        busy = [asyncio.ensure_future(worker.search(SearchRequest(f"q{i}", mode="text"))) for i in range(4)]
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        answer = await worker.probe(service.health)
        took = time.perf_counter() - started
        service.gate.set()
        await asyncio.gather(*busy)
        return answer, took

    answer, took = run(main())
    worker.close()
    assert answer == "healthy" and took < 0.1


def test_the_worker_answers_what_inline_answers(service):
    """The real service: 24 concurrent searches of every mode and city, micro-batched, equal one by one
    to the inline runner's (the CPU default, int8 or int8_blocks, is batch-invariant)."""
    requests = [SearchRequest(q, limit, city, mode) for q in ("food delivery", "hospital software", "payments", "QR codes", "machine learning", "bikes")
                for limit, city, mode in ((5, None, "hybrid"), (3, "London", "neural"), (10, None, "text"), (5, "San Francisco", "hybrid"))]
    worker, inline = Worker(service, timeout=30), Inline(service)

    async def main():
        together = await asyncio.gather(*(worker.search(r) for r in requests))
        alone = [await inline.search(r) for r in requests]
        return together, alone

    together, alone = run(main())
    worker.close()
    for request, a, b in zip(requests, together, alone):
        assert [h.id for h in a.hits] == [h.id for h in b.hits], request
        assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits], abs=1e-6), request
