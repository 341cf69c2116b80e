"""Logging that cannot block serving: `python -m handler` logs through a bounded queue to a writer
thread (`handler.common.logs.QueuedLines`); with stdout on a pipe nobody reads, logging returns at
once, the lines beyond the queue are dropped and counted, and the count is logged once the reader
drains the pipe. Real OS pipes, no model. (Before, a StreamHandler blocked the caller once the
pipe's 64 KB filled: the server stopped answering after 463 requests.)"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

from handler.common.logs import JsonLines, QueuedLines, server_logging


def unread_pipe():
    """A pipe whose reading end nobody reads yet: writes block once its buffer (64 KB) is full."""
    read_fd, write_fd = os.pipe()
    return os.fdopen(read_fd, "r", encoding="utf-8"), os.fdopen(write_fd, "w", encoding="utf-8")


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_stalled_reader_never_blocks_the_logger_and_the_dropped_lines_are_counted():
    reader, writer = unread_pipe()
    handler = QueuedLines(writer, capacity=100)
    handler.setFormatter(JsonLines())
    logger = logger_with(handler, "handler.test_log_queue")
    sent = 5_000  # ~100 bytes each: several times what the pipe and the queue hold
    done = threading.Event()

    def log_all():
        for i in range(sent):
            logger.info(json.dumps({"event": "request", "i": i, "pad": "x" * 60}))
        done.set()

    threading.Thread(target=log_all, daemon=True).start()
    assert done.wait(10), "logging blocked on a stdout nobody reads"  # before: blocked for good after ~64 KB
    assert handler.dropped > 0 or not handler.lines.empty()
    received, dropped = [], []

    def read_all():  # now a reader drains the pipe, to its end
        for line in reader:
            event = json.loads(line)
            (dropped.append(event["lines"]) if event["event"] == "log_dropped" else received.append(event["i"]))

    reading = threading.Thread(target=read_all, daemon=True)
    reading.start()
    assert handler.drain(20), "the writer never caught up once the pipe was read"
    writer.close()
    reading.join(10)
    assert dropped, "the writer never said how many lines it dropped"
    assert len(received) + sum(dropped) == sent  # every line written or counted, none lost silently
    assert received == sorted(received) and len(received) < sent
    reader.close()


def test_a_line_logged_with_a_reader_arrives_at_once_and_nothing_is_dropped():
    reader, writer = unread_pipe()
    handler = QueuedLines(writer)
    handler.setFormatter(JsonLines())
    logger = logger_with(handler, "handler.test_log_queue_read")
    logger.warning(json.dumps({"event": "startup", "qdrant": "unavailable"}))
    assert json.loads(reader.readline()) == {"level": "warning", "event": "startup", "qdrant": "unavailable"}
    assert handler.drain(2) and handler.dropped == 0
    writer.close(), reader.close()


def test_uvicorns_lines_go_through_the_same_queue():
    config = server_logging()
    factory = config["handlers"]["stdout"]["()"]
    assert isinstance(factory(), QueuedLines) and factory() is factory()  # one writer thread per process


def test_the_server_keeps_answering_with_stdout_on_a_pipe_nobody_reads(model_dir, tmp_path):
    """`python -m handler` with stdout on a pipe that is never read: 1,500 requests (each logs two
    lines: before, it stopped answering after 463) are all answered, and once the pipe is read every
    line is there or counted in a `log_dropped` line. Real model, the embedded engine with no collection (each
    /health logs why it is degraded)."""
    import subprocess
    import sys

    import httpx

    from tests.support.helpers import REPO
    from tests.support.servers import free_port

    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "MODEL_DIR": str(model_dir), "QDRANT_PATH": str(tmp_path), "QDRANT_URL": "",
           "LOG_LEVEL": "INFO"}
    process = subprocess.Popen([sys.executable, "-m", "handler"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        with httpx.Client(timeout=5) as client:
            while True:
                try:
                    client.get(f"{url}/health")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None, "the server did not start"
                    time.sleep(0.2)
            statuses = [client.get(f"{url}/health").status_code for _ in range(1500)]
        assert statuses == [503] * 1500  # answered (degraded: no collection here), none stalled
        process.terminate()
        out = process.stdout.read().decode()
    finally:
        process.kill()
        process.wait(10)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    written = sum(e["event"] == "request" for e in events) + sum(e["event"] == "health" for e in events)
    dropped = sum(e["lines"] for e in events if e["event"] == "log_dropped")
    assert written + dropped >= 2 * 1501  # each line written once the pipe was read, or counted as dropped
