"""Where a request's work runs: `Inline` on Lambda, `Worker` in `python -m handler`.

Every search route awaits `runner.run(request)` (a request of `handler.search`), and /health
awaits `runner.probe(fn)`; neither knows which runner serves it. Both runners run the service's
named steps (`cached_vector`, `embed_queries`, `answer`): Inline in one go, Worker apart.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
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

    - the model: one thread per core (`service.model_threads`), each taking work from one queue
      (`ModelQueue`). A short query runs on one onnxruntime thread, so two short queries run at
      once on two cores instead of one after the other on both; a thread alone with an empty
      queue lets a long text use every core. Queries that wait while the threads work are embedded
      together, up to `max_batch`, in one call (micro-batching, as TEI and infinity do); alone, a
      query never waits for company. The int8 and fp32 variants are batch-invariant, so a batched
      query gets the vector it would get alone. Work is admitted by its cost (tokens): long queries
      are never batched with short ones and hold at most all threads but one, so short ones always
      have a core (see `ModelQueue`);
    - Qdrant: a pool of threads, so a slow or hung server holds up only the requests that wait on
      it, never the model (an embedded shard, which no server can hold up, is asked by the model
      thread that embedded the query: one hand-off less);
    - /health: a thread of its own, never queued behind searches.

    Every request has a deadline (REQUEST_TIMEOUT): work still queued then is never started, and
    the request is answered 503. A request whose client left is cancelled (see
    `CancelOnDisconnect`) and its queued work skipped.
    """

    def __init__(self, service: SearchService, *, timeout: float = 10.0, max_batch: int = 16, io_threads: int = 16,
                 model_threads: int | None = None) -> None:
        self.service = service
        self.timeout = timeout
        self.max_batch = max_batch
        threads = model_threads or getattr(service, "model_threads", 1)
        self.jobs = ModelQueue(threads, max_batch)
        encoder = getattr(service, "encoder", None)
        if threads > 1 and encoder is not None:  # the model threads run side by side on the one-thread session: built now, not under the first overlap
            encoder.narrow
        self.models = [threading.Thread(target=self._embed_loop, name=f"model-{i}", daemon=True) for i in range(threads)]
        for thread in self.models:
            thread.start()
        self.io = ThreadPoolExecutor(io_threads, thread_name_prefix="qdrant")
        # an embedded shard (Qdrant Edge) has no server to hang on: the model thread answers from it
        # itself, one thread hand-off less per request (on a loaded machine each costs a wait for a core)
        self.answer_on_model_thread = bool(getattr(service, "answers_in_process", False))
        self.health = ThreadPoolExecutor(1, thread_name_prefix="health")

    @property
    def model(self) -> threading.Thread:
        """The first model thread (one per core: `models`)."""
        return self.models[0]

    async def run(self, request):
        deadline = time.monotonic() + self.timeout
        vector, embed_ms = None, 0.0
        if request.needs_vector:
            began = time.perf_counter()
            vector = self.service.cached_vector(request.q)  # a popular query: no trip to the model thread
            if vector is None:  # the model thread hands the vector to Qdrant's pool itself: one trip through the event loop, not two
                return await self._bounded(self._embed(request, deadline), deadline)
            embed_ms = (time.perf_counter() - began) * 1000
        return await self._in(self.io, deadline, self.service.answer, request, vector, embed_ms)

    async def probe(self, fn, *args, **kwargs):
        """Health checks: on their own thread."""
        return await self._in(self.health, time.monotonic() + self.timeout, fn, *args, **kwargs)

    # -- Qdrant and health: thread pools --------------------------------------------------------------
    async def _in(self, pool: ThreadPoolExecutor, deadline: float, fn, *args, **kwargs):
        # A cancelled await (the client left) cancels the pool's future: if it has not started, it never runs.
        return await self._bounded(asyncio.get_running_loop().run_in_executor(pool, lambda: _unless_expired(deadline, fn, *args, **kwargs)), deadline)

    @staticmethod
    async def _bounded(awaitable, deadline: float):
        try:
            return await asyncio.wait_for(awaitable, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise RequestExpired("the request ran past its deadline") from None

    # -- the model: one thread per core, one queue by cost ------------------------------------------
    async def _embed(self, request, deadline: float):
        """The request's answer: its query embedded on a model thread, then answered on Qdrant's pool."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.jobs.put(Job(request, future, loop, deadline, estimated_tokens(request.q)))
        return await future

    def _answer(self, job: "Job", vector, embed_ms: float) -> None:
        """On Qdrant's pool (or the model thread, for an embedded shard): the store's answer for a job the model has embedded, unless its client
        left or its deadline passed meanwhile."""
        if job.future.cancelled():
            return
        try:
            outcome = _unless_expired(job.deadline, self.service.answer, job.request, vector, embed_ms)
        except Exception as exc:
            outcome = exc
        _settle(job.loop, job.future, outcome)

    def _then_answer(self, job: "Job", outcome) -> None:
        """The model's outcome for a job (its vector and embed ms, or an error) goes on to Qdrant's pool."""
        if isinstance(outcome, BaseException):
            return _settle(job.loop, job.future, outcome)
        if self.answer_on_model_thread:
            return self._answer(job, *outcome)
        try:
            self.io.submit(self._answer, job, *outcome)
        except RuntimeError as exc:  # the pool is shut down: the server is stopping
            _settle(job.loop, job.future, exc)

    def alive(self) -> bool:
        """Whether every model thread runs (/health says so when one does not)."""
        return all(thread.is_alive() for thread in self.models)

    def _embed_loop(self) -> None:
        while True:
            taken = self.jobs.take()
            if taken is None:
                return
            batch, wide = taken
            try:
                self._embed_batch(self._live(batch), wide)
            except Exception as exc:  # a model thread never dies: every request would then wait for nothing
                log.exception(json.dumps({"event": "model_thread", "error": type(exc).__name__}))
                for job in batch:
                    _settle(job.loop, job.future, exc)
            finally:
                self.jobs.done(batch)

    @staticmethod
    def _live(batch: list) -> list:
        """The jobs still wanted: a cancelled one (its client left) is dropped, an expired one answered."""
        now, live = time.monotonic(), []
        for job in batch:
            if job.future.cancelled():
                continue
            if now > job.deadline:
                _settle(job.loop, job.future, RequestExpired("the request waited past its deadline"))
            else:
                live.append(job)
        return live

    def _embed_batch(self, live: list, wide: bool = True) -> None:
        """One onnxruntime call for the batch (each query is charged its time; the service puts each
        vector in the query cache before it is answered); if it fails, each text alone, so a failure
        stays with the request it belongs to. wide: whether the call may use every core (this
        thread works alone); else it runs on one."""
        if not live:
            return
        started = time.perf_counter()
        try:
            vectors = self.service.embed_queries([job.request.q for job in live], wide=wide)
        except Exception:
            for job in live:
                begun = time.perf_counter()
                try:
                    outcome = (self.service.embed_queries([job.request.q], wide=wide)[0], (time.perf_counter() - begun) * 1000)
                except Exception as exc:
                    outcome = exc
                self._then_answer(job, outcome)
            return
        took = (time.perf_counter() - started) * 1000
        for job, vector in zip(live, vectors):
            self._then_answer(job, (vector, took))

    def close(self) -> None:
        self.jobs.close()
        self.io.shutdown(wait=False, cancel_futures=True)
        self.health.shutdown(wait=False, cancel_futures=True)


CHARS_PER_TOKEN = 4  # English word pieces run 4-5 characters: a query's cost, guessed without tokenizing it on the event loop
LONG_TOKENS = 32  # a query estimated at this many tokens or more is long: never batched with short ones
LONG_PATIENCE_S = 0.05  # a long query that waited this long is taken before short ones (so short ones cannot starve it either)


def estimated_tokens(text: str) -> int:
    """A query's cost in tokens, estimated from its length ([CLS] and [SEP] included): tokenizing a
    1,000-character query takes about a millisecond, too long for the event loop (the encoder caps
    what it embeds at QUERY_MAX_TOKENS anyway)."""
    return 2 + len(text) // CHARS_PER_TOKEN


@dataclasses.dataclass
class Job:
    request: object  # a search request of `handler.search` whose query needs a vector
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    deadline: float
    tokens: int
    queued: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def long(self) -> bool:
        return self.tokens >= LONG_TOKENS


class ModelQueue:
    """The model threads' work, admitted by its cost (tokens), so a few long queries cannot starve
    short ones:

    - short queries first, in arrival order, batched (up to `max_batch`) while they wait, the idle
      threads taking a share each;
    - a long query alone (its padding would make every short query in its batch as long), and at
      most `threads - 1` of them in flight (at least one): the other threads stay free for short
      queries; a long query that waited LONG_PATIENCE_S goes before short ones, within that bound;
    - `take` tells a thread whether it may use every core: only when no other thread works and
      nothing else waits (else each call runs on one core, beside the others).
    """

    def __init__(self, threads: int, max_batch: int) -> None:
        self.threads = threads
        self.max_batch = max_batch
        self.long_cap = max(1, threads - 1)
        self.long_patience = LONG_PATIENCE_S
        self.short: collections.deque = collections.deque()
        self.long: collections.deque = collections.deque()
        self.busy = 0  # threads working
        self.long_busy = 0  # of which on a long query
        self.closed = False
        self.ready = threading.Condition()

    def put(self, job: Job | None) -> None:
        """Queue a job; None stops the threads (as `close`)."""
        if job is None:
            return self.close()
        with self.ready:
            (self.long if job.long else self.short).append(job)
            self.ready.notify()

    def qsize(self) -> int:
        """Jobs waiting (not yet taken by a thread)."""
        with self.ready:
            return len(self.short) + len(self.long)

    def take(self):
        """(jobs, wide) for a model thread, waiting until there are some; None once closed."""
        with self.ready:
            while not self.closed:
                batch = self._next()
                if batch:
                    self.busy += 1
                    self.long_busy += batch[0].long
                    wide = self.busy == 1 and not self.short and not self.long
                    return batch, wide
                self.ready.wait()
            return None

    def _next(self) -> list[Job]:
        can_long = self.long and self.long_busy < self.long_cap
        if can_long and (not self.short or time.monotonic() - self.long[0].queued >= self.long_patience):
            return [self.long.popleft()]
        if self.short:  # a share of what waits: the idle threads split it rather than one taking all
            share = -(-len(self.short) // max(1, self.threads - self.busy))
            return [self.short.popleft() for _ in range(min(self.max_batch, share))]
        return []

    def done(self, batch: list[Job]) -> None:
        with self.ready:
            self.busy -= 1
            self.long_busy -= batch[0].long
            self.ready.notify()  # a long query may have waited for the bound

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()


def _unless_expired(deadline: float, fn, *args, **kwargs):
    """fn's result, on a thread that may have picked the work up late: refused past the deadline,
    and the deadline known to each Qdrant call it makes."""
    if time.monotonic() > deadline:
        raise RequestExpired("the request waited past its deadline")
    with until(deadline):
        return fn(*args, **kwargs)


def _settle(loop, future, outcome) -> None:
    def settle():
        if not future.done():  # the client may have gone away
            future.set_exception(outcome) if isinstance(outcome, BaseException) else future.set_result(outcome)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed (shutting down): nobody waits for this answer any more
        pass


RUNNERS = {"inline": Inline, "worker": Worker}
