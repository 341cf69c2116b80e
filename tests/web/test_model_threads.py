"""The Worker's model threads (`python -m handler`): one per core, so two short queries are embedded
at once, each on one onnxruntime thread; work admitted by its cost, so long queries never take
every thread and short ones go first. A scripted service (the STAND-IN of tests.web.test_runners)
holds every model call at a gate, so what is in flight at once is under the test's control; no
test here measures a speed."""

from __future__ import annotations

import asyncio

from handler.search import SearchRequest
from handler.web.runners import LONG_TOKENS, Worker, estimated_tokens
from tests.web.test_runners import ScriptedService, until

WAIT_S = 10
LONG = "a long description of the startup someone is looking for, " * 20  # 1,180 characters: far over LONG_TOKENS


class Recording(ScriptedService):
    """Also records, per model call, whether it was allowed every core."""

    def __init__(self) -> None:
        super().__init__()
        self.wide: list[bool] = []

    def embed_queries(self, texts, wide=True):
        self.wide.append(wide)
        return super().embed_queries(texts, wide)


def searches(worker, texts):
    return [asyncio.ensure_future(worker.run(SearchRequest(t, mode="neural"))) for t in texts]


def test_the_estimate_tells_long_queries_from_short_ones():
    assert estimated_tokens("vegan food delivery") < LONG_TOKENS <= estimated_tokens(LONG)


def test_two_short_queries_are_embedded_at_once_each_on_one_core():
    service = Recording()
    service.model_gate.clear()  # every model call is held until both are in flight
    worker = Worker(service, timeout=WAIT_S, model_threads=2)

    async def main():
        first = searches(worker, ["vegan food delivery"])
        await until(lambda: len(service.calls) == 1, "the first query taken")
        second = searches(worker, ["QR codes for restaurants"])
        await until(lambda: len(service.calls) == 2, "the second query embedded while the first still is")
        service.model_gate.set()
        return await asyncio.gather(*first, *second)

    results = asyncio.run(main())
    worker.close()
    assert [r.hits[0][0] for r in results] == ["vegan food delivery", "QR codes for restaurants"]
    assert sorted(map(tuple, service.calls)) == [("QR codes for restaurants",), ("vegan food delivery",)]
    # the first was alone (it may use every core), the second ran beside it: on one core
    assert service.wide == [True, False]


def test_long_queries_leave_a_thread_for_short_ones_and_are_never_batched_with_them():
    service = Recording()
    service.model_gate.clear()
    worker = Worker(service, timeout=WAIT_S, model_threads=2)
    longs = [f"{i} {LONG}" for i in range(3)]

    async def main():
        queued = searches(worker, longs)
        await until(lambda: len(service.calls) == 1, "a long query taken")
        assert worker.jobs.qsize() == 2  # the other thread does not take a second long one
        short = searches(worker, ["vegan food delivery"])
        await until(lambda: len(service.calls) == 2, "the short query taken by the free thread")
        service.model_gate.set()
        return await asyncio.gather(*queued, *short)

    results = asyncio.run(main())
    worker.close()
    assert len(results) == 4
    assert service.calls[1] == ["vegan food delivery"]  # beside the long one, while two more long ones wait
    assert all(len(call) == 1 for call in service.calls)  # a long query alone
    assert sorted(t for call in service.calls for t in call) == sorted(longs + ["vegan food delivery"])


def order_behind_a_busy_thread(waiting: list[str], long_patience: float) -> list[list[str]]:
    """One model thread busy with "first", then `waiting` queued in this order: the order the
    model is given them in (each a call's texts)."""
    service = Recording()
    service.model_gate.clear()
    worker = Worker(service, timeout=WAIT_S, model_threads=1)
    worker.jobs.long_patience = long_patience

    async def main():
        busy = searches(worker, ["first"])
        await until(lambda: len(service.calls) == 1, "the one thread busy")
        queued = [task for text in waiting for task in searches(worker, [text])]
        await until(lambda: worker.jobs.qsize() == len(waiting), "all queued")
        service.model_gate.set()
        return await asyncio.gather(*busy, *queued)

    asyncio.run(main())
    worker.close()
    return service.calls


def test_short_queries_waiting_go_before_a_long_one_that_came_first():
    # WAIT_S: the long query is never overdue here
    assert order_behind_a_busy_thread([LONG, "second", "third"], long_patience=WAIT_S) == [["first"], ["second", "third"], [LONG]]


def test_a_long_query_that_waited_its_patience_goes_first():
    # 0: overdue at once, so short queries cannot starve it
    assert order_behind_a_busy_thread([LONG, "second"], long_patience=0.0) == [["first"], [LONG], ["second"]]


def test_every_model_thread_counts_for_health():
    worker = Worker(Recording(), timeout=WAIT_S, model_threads=2)
    assert len(worker.models) == 2 and worker.alive()
    worker.close()
    for thread in worker.models:
        thread.join(timeout=WAIT_S)
    assert not worker.alive()


class Answering(Recording):
    """Records the thread each answer() runs on."""

    def __init__(self, in_process: bool) -> None:
        super().__init__()
        self.answers_in_process = in_process
        self.threads: list[str] = []

    def answer(self, request, vector, embed_ms=0.0):
        import threading

        self.threads.append(threading.current_thread().name)
        return super().answer(request, vector, embed_ms)


def test_an_embedded_shard_is_asked_by_the_model_thread_a_server_on_the_pool():
    """A Qdrant server could hang: never on a model thread. An embedded shard cannot: one hand-off less."""
    for in_process, prefix in ((True, "model-"), (False, "qdrant")):
        service = Answering(in_process)
        worker = Worker(service, timeout=WAIT_S, model_threads=2)
        result = asyncio.run(worker.run(SearchRequest("vegan food delivery", mode="neural")))
        text = asyncio.run(worker.run(SearchRequest("plain words", mode="text")))  # no vector: straight to the pool
        worker.close()
        assert result.hits == [("vegan food delivery", float(len("vegan food delivery")))] and text.hits == [("plain words", None)]
        assert service.threads[0].startswith(prefix) and service.threads[1].startswith("qdrant"), service.threads
