"""The log: one JSON object per line on stdout (CloudWatch's convention on Lambda; what a log
shipper reads from a container), the service's events and uvicorn's lines alike, each bounded.

The service logs its events as `log.info(json.dumps({...}))`; `JsonLines` adds the level and, for
an exception, a cut traceback. Any other message (uvicorn's, a library's, a Python warning)
becomes `{"event": "log", "logger": ..., "message": ...}`. No line is longer than MAX_LINE: a
client's path, header or query can be any size, so logged values are cut (`handler.common.shorten`).
"""

from __future__ import annotations

import json
import logging
import sys

from handler.common.shorten import cut

log = logging.getLogger("handler")
MAX_LINE = 2000  # characters of one log line (json.dumps writes ASCII: bytes too)
MAX_TRACEBACK = 1200  # the end of a traceback: where it failed


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


class NotRefusals(logging.Filter):
    """uvicorn's "Invalid HTTP request received." says less than the JSON line the server's
    protocol writes for the same refusal (`handler.web.local_server`): one line per refusal is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "uvicorn.error" and record.msg == "Invalid HTTP request received.")


def configure_logging(level: str) -> None:
    """The service's logger writes JSON lines on stdout; other libraries' loggers are left alone
    (on Lambda the runtime owns the root logger; `python -m handler` configures it: server_logging)."""
    if not log.handlers:
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
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout", "filters": ["not_refusals"]}},
        "loggers": {
            "uvicorn": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stdout"], "level": "WARNING"},
    }
