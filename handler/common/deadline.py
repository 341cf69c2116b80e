"""A request's deadline, known to every Qdrant call it makes: a search can make several in a row
(a hybrid query, then its payloads; a page past the first), and each may take up to
QDRANT_TIMEOUT, so without a deadline their sum could outlast the request (on Lambda, the
function's timeout, answered by API Gateway with a body that is not ours). The runners set it
(REQUEST_TIMEOUT from the request's start); the server backend checks it before each call
(`check_deadline`) and cuts each phase of a call (connect, write, each read) to what is left
(`remaining`), so a call already started ends about when the budget does.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

from handler.common.errors import RequestExpired

_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


@contextmanager
def until(deadline: float):
    """Within the block, calls check `deadline` (a time.monotonic() value)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def overdue() -> bool:
    """Whether the deadline in force (if any) has passed."""
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() > deadline


def remaining() -> float | None:
    """Seconds left before the deadline in force (negative once past); None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def check_deadline(what: str) -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise RequestExpired(f"the request ran out of time before {what}")
