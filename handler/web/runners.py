"""Where a request's work runs: `Inline` on Lambda, `Worker` in `python -m handler`.

Every search route awaits `runner.run(request)` (a request of `handler.search`), and /health
awaits `runner.probe(fn)`; neither knows which runner serves it. Both runners run the service's
named steps (`cached_vector`, `embed_queries`, `answer`): Inline in one go, Worker apart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from handler.common import RequestExpired, until
from handler.search import SearchService

log = logging.getLogger("handler")


class Inline:
    """Lambda: an execution environment serves one request at a time, so the work runs right in
    the event loop's thread. A thread hop would only add latency: nothing else is waiting. A hung
    Qdrant costs QDRANT_TIMEOUT once; the storage's circuit breaker answers the next ones at once;
    no Qdrant call starts after REQUEST_TIMEOUT (the request's deadline)."""

    def __init__(self, service: SearchService, *, timeout: float = 10.0, **_) -> None:
        self.service = service
        self.timeout = timeout

    async def run(self, request):
        with until(time.monotonic() + self.timeout):
            return self.service.run(request)

    async def probe(self, fn, *args, **kwargs):
        with until(time.monotonic() + self.timeout):
            return fn(*args, **kwargs)

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        pass


class Worker:
    """`python -m handler`: many connections share one process, so the event loop stays free and
    three kinds of work run apart, each never waiting behind another:

    - the model: one thread owns the encoder (onnxruntime already spreads one inference over the
      cores). Queries that arrive while it works are embedded together, up to `max_batch`, in one
      call (micro-batching, as TEI and infinity do): under load more texts per second, and alone a
      query never waits for company. The int8 and fp32 variants are batch-invariant, so a batched
      query gets the vector it would get alone;
    - Qdrant: a pool of threads, so a slow or hung server holds up only the requests that wait on
      it, never the model;
    - /health: a thread of its own, never queued behind searches.

    Every request has a deadline (REQUEST_TIMEOUT): work still queued then is never started, and
    the request is answered 503. A request whose client left is cancelled (see
    `CancelOnDisconnect`) and its queued work skipped.
    """

    def __init__(self, service: SearchService, *, timeout: float = 10.0, max_batch: int = 16, io_threads: int = 16) -> None:
        self.service = service
        self.timeout = timeout
        self.max_batch = max_batch
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.model = threading.Thread(target=self._embed_loop, name="model", daemon=True)
        self.model.start()
        self.io = ThreadPoolExecutor(io_threads, thread_name_prefix="qdrant")
        self.health = ThreadPoolExecutor(1, thread_name_prefix="health")

    async def run(self, request):
        deadline = time.monotonic() + self.timeout
        vector, embed_ms = None, 0.0
        if request.needs_vector:
            began = time.perf_counter()
            vector = self.service.cached_vector(request.q)  # a popular query: no trip to the model thread
            if vector is None:
                vector, embed_ms = await self._bounded(self._embed(request.q, deadline), deadline)
            else:
                embed_ms = (time.perf_counter() - began) * 1000
        return await self._in(self.io, deadline, self.service.answer, request, vector, embed_ms)

    async def probe(self, fn, *args, **kwargs):
        """Health checks: on their own thread."""
        return await self._in(self.health, time.monotonic() + self.timeout, fn, *args, **kwargs)

    # -- Qdrant and health: thread pools --------------------------------------------------------------
    async def _in(self, pool: ThreadPoolExecutor, deadline: float, fn, *args, **kwargs):
        def unless_expired():
            if time.monotonic() > deadline:
                raise RequestExpired("the request waited past its deadline")
            with until(deadline):  # each Qdrant call it makes checks it
                return fn(*args, **kwargs)

        # A cancelled await (the client left) cancels the pool's future: if it has not started, it never runs.
        return await self._bounded(asyncio.get_running_loop().run_in_executor(pool, unless_expired), deadline)

    @staticmethod
    async def _bounded(awaitable, deadline: float):
        try:
            return await asyncio.wait_for(awaitable, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise RequestExpired("the request ran past its deadline") from None

    # -- the model: one thread, micro-batches -------------------------------------------------------
    async def _embed(self, text: str, deadline: float):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.jobs.put((text, future, loop, deadline))
        return await future

    def alive(self) -> bool:
        """Whether the model thread runs (/health says so when it does not)."""
        return self.model.is_alive()

    def _embed_loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self.max_batch:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)
                    break
                batch.append(more)
            try:
                self._embed_batch(self._live(batch))
            except Exception as exc:  # the model thread never dies: every request would then wait for nothing
                log.exception(json.dumps({"event": "model_thread", "error": type(exc).__name__}))
                for _, future, loop, _ in batch:
                    _settle(loop, future, exc)

    @staticmethod
    def _live(batch: list) -> list:
        """The jobs still wanted: a cancelled one (its client left) is dropped, an expired one answered."""
        now, live = time.monotonic(), []
        for text, future, loop, deadline in batch:
            if future.cancelled():
                continue
            if now > deadline:
                _settle(loop, future, RequestExpired("the request waited past its deadline"))
            else:
                live.append((text, future, loop))
        return live

    def _embed_batch(self, live: list) -> None:
        """One onnxruntime call for the batch (each query is charged its time; the service puts each
        vector in the query cache before it is answered); if it fails, each text alone, so a failure
        stays with the request it belongs to."""
        if not live:
            return
        started = time.perf_counter()
        try:
            vectors = self.service.embed_queries([text for text, _, _ in live])
        except Exception:
            for text, future, loop in live:
                begun = time.perf_counter()
                try:
                    outcome = (self.service.embed_queries([text])[0], (time.perf_counter() - begun) * 1000)
                except Exception as exc:
                    outcome = exc
                _settle(loop, future, outcome)
            return
        took = (time.perf_counter() - started) * 1000
        for (_, future, loop), vector in zip(live, vectors):
            _settle(loop, future, (vector, took))

    def close(self) -> None:
        self.jobs.put(None)
        self.io.shutdown(wait=False, cancel_futures=True)
        self.health.shutdown(wait=False, cancel_futures=True)


def _settle(loop, future, outcome) -> None:
    def settle():
        if not future.done():  # the client may have gone away
            future.set_exception(outcome) if isinstance(outcome, BaseException) else future.set_result(outcome)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed (shutting down): nobody waits for this answer any more
        pass


RUNNERS = {"inline": Inline, "worker": Worker}
