"""The log: one JSON object per line on stdout (CloudWatch's convention on Lambda; what a log
shipper reads from a container), the service's events and uvicorn's lines alike, each bounded.

The service logs its events as `log.info(json.dumps({...}))`; `JsonLines` adds the level and, for
an exception, a cut traceback. Any other message (uvicorn's, a library's, a Python warning)
becomes `{"event": "log", "logger": ..., "message": ...}`. No line is longer than MAX_LINE: a
client's path, header or query can be any size, so logged values are cut (`handler.common.shorten`).

`python -m handler` never waits for its log: lines go through a bounded queue to a writer thread
(`QueuedLines`), and when stdout is not read (a stalled pipe, a stuck log shipper) the queue fills
and further lines are dropped and counted, never waited for; the count is logged once the writer
catches up. On Lambda lines go straight to stdout (the runtime reads it; one request at a time).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import threading
import time

from handler.common.shorten import cut

log = logging.getLogger("handler")
MAX_LINE = 2000  # characters of one log line (json.dumps writes ASCII: bytes too)
MAX_TRACEBACK = 1200  # the end of a traceback: where it failed
MAX_QUEUED = 10_000  # lines waiting for stdout (at most MAX_LINE each: 20 MB); beyond, dropped and counted


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        level = record.levelname.lower()
        ours = record.name == "handler" or record.name.startswith("handler.")  # our events are json.dumps of a dict
        if ours and message.startswith("{") and message.endswith("}") and not record.exc_info:
            line = f'{{"level": "{level}", {message[1:]}' if len(message) > 2 else f'{{"level": "{level}"}}'
            if len(line) <= MAX_LINE:
                return line  # the common case: one of our events, already JSON, already short
        fields = None
        if ours and message.startswith("{"):
            try:
                fields = json.loads(message)
            except ValueError:
                pass
        if not isinstance(fields, dict):
            fields = {"event": "log", "logger": record.name, "message": message}
        fields = {"level": level, **fields}
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)[-MAX_TRACEBACK:]
        return bounded(fields)


def bounded(fields: dict) -> str:
    """The JSON line of `fields`, cut to MAX_LINE: long values first, then whatever is left."""
    line = json.dumps(fields, default=str)
    if len(line) <= MAX_LINE:
        return line
    fields = {key: cut(value) if key != "traceback" else value for key, value in fields.items()}
    line = json.dumps(fields, default=str)
    if len(line) <= MAX_LINE:
        return line
    fields = {key: cut(value if isinstance(value, str) else json.dumps(value, default=str), 60) for key, value in fields.items()}
    line = json.dumps({**fields, "cut": True}, default=str)
    while len(line) > MAX_LINE and len(fields) > 1:  # still too long (very many fields): drop the last ones, never cut the JSON
        fields.popitem()
        line = json.dumps({**fields, "cut": True}, default=str)
    return line


class QueuedLines(logging.Handler):
    """A handler that never blocks its caller: each record is formatted in the caller's thread and
    queued (at most `capacity` lines); a writer thread writes them to `stream`. A full queue (the
    stream is not read) drops the line and counts it; when the writer has written everything
    queued, it writes one `log_dropped` line with the count."""

    def __init__(self, stream=None, capacity: int = MAX_QUEUED) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stdout
        self.lines: queue.Queue = queue.Queue(capacity)
        self.dropped = 0
        self._count = threading.Lock()
        self.writer = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self.writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self.lines.put_nowait(line)
        except queue.Full:
            with self._count:
                self.dropped += 1

    def _write(self) -> None:
        while True:
            line = self.lines.get()
            try:
                self.stream.write(line + "\n")
                if self.lines.empty():  # caught up: flush, and say what was dropped meanwhile
                    with self._count:
                        dropped, self.dropped = self.dropped, 0
                    if dropped:
                        self.stream.write(json.dumps({"level": "warning", "event": "log_dropped", "lines": dropped,
                                                      "why": "stdout was not read fast enough; the service did not wait for it"}) + "\n")
                    self.stream.flush()
            except Exception:  # a closed stream: nothing to write to, and nobody to tell
                pass
            finally:
                self.lines.task_done()

    def drain(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for the queued lines to be written (at exit)."""
        deadline = time.monotonic() + timeout
        while self.lines.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.lines.unfinished_tasks


_queued: QueuedLines | None = None


def queued_stdout() -> QueuedLines:
    """The process's one queued stdout handler (the service's logger and uvicorn's share it)."""
    global _queued
    if _queued is None:
        _queued = QueuedLines(sys.stdout)
        _queued.setFormatter(JsonLines())
        atexit.register(_queued.drain, 2.0)  # the last lines (shutting down) still reach a stdout that is read
    return _queued


# uvicorn's words for what the JSON lines of the server's protocol and of RequestLog already say
UVICORN_REPEATS = ("Invalid HTTP request received.", "Unsupported upgrade request.")


class NotRefusals(logging.Filter):
    """uvicorn's "Invalid HTTP request received." (and, with ws="none", its two warnings for an
    upgrade request) say less than the JSON line the server's protocol (`handler.web.local_server`)
    or RequestLog writes for the same request: one line per refusal is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "uvicorn.error" and (record.msg in UVICORN_REPEATS or str(record.msg).startswith("No supported WebSocket library")))


def configure_logging(level: str, queued: bool = False) -> None:
    """The service's logger writes JSON lines on stdout; other libraries' loggers are left alone
    (on Lambda the runtime owns the root logger; `python -m handler` configures it: server_logging).
    queued: through the bounded queue (`python -m handler`), else straight to stdout (Lambda)."""
    if not log.handlers:
        if queued:
            stream = queued_stdout()
        else:
            stream = logging.StreamHandler(sys.stdout)
            stream.setFormatter(JsonLines())
        log.addHandler(stream)
        log.propagate = False
    log.setLevel(level)


def server_logging() -> dict:
    """`python -m handler`'s logging config (uvicorn's log_config): uvicorn's loggers, the root
    logger (libraries) and Python's warnings all write JSON lines on stdout. Access lines are
    off: the web wing's RequestLog middleware writes one line per request. The service's own logger is
    configure_logging's (a dictConfig entry for it would drop its handler)."""
    logging.captureWarnings(True)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "filters": {"not_refusals": {"()": NotRefusals}},
        # the queued stdout handler the service's logger uses: uvicorn's lines never block serving either
        "handlers": {"stdout": {"()": queued_stdout, "filters": ["not_refusals"]}},
        "loggers": {
            "uvicorn": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stdout"], "level": "WARNING"},
    }
