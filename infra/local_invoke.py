"""Run the built Lambda artifact locally, without Docker, through AWS's own runtime client.

    python infra/local_invoke.py --event infra/events/http_api_v2.json [--artifact infra/build/lambda]
                                 [--python .venv312/bin/python] [--env QDRANT_PATH=...] [--serve]

A small Lambda Runtime API emulator (the part of AWS's emulator that awslambdaric talks to)
starts `python -m awslambdaric handler.lambda_handler` in the artifact directory, with a
Python 3.12 that holds only awslambdaric. Clients invoke it at the same URL as AWS's runtime
interface emulator and `sam local start-lambda`:

    POST http://127.0.0.1:PORT/2015-03-31/functions/function/invocations

so tests can point at this emulator, or at a real one where Docker exists. --serve keeps it
running (port 9000 by default) instead of invoking one event and exiting. The function's storage
is set as template.yaml sets it (`function_environment`): an embedded artifact reads its baked shard.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from toolchain import ARTIFACT_DIR, RUNTIME_VENV  # also puts the repository root on sys.path

from handler.common import ARTIFACT_SCHEMA_FILE, ENV, MODEL_FOLDER, SHARD_ARCHIVE, UsageError, built_mode, cli, env, say

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
RUNTIME_PREFIX = "/2018-06-01/runtime"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # the runtime stopped (close(), or it crashed: its log says so) while its long-poll for
        # the next event was open; a reset connection is that, not an error worth a traceback
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class RuntimeEmulator:
    """Serves the Runtime API to one runtime process, and the invoke API to clients."""

    def __init__(self, port: int = 0, timeout_s: float = 30) -> None:
        self.timeout_s = timeout_s
        self.pending: queue.Queue = queue.Queue()
        self.results: dict[str, queue.Queue] = {}
        self.init_error: dict | None = None
        self.restore_error: dict | None = None
        self.first_next_at: float | None = None  # when the runtime finished init and asked for work
        self.restored_at: float | None = None  # SnapStart: when the runtime asked to be restored
        self.server = _Server(("127.0.0.1", port), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "RuntimeEmulator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def invoke(self, event: dict | bytes) -> tuple[int, dict, dict]:
        """Queue one invocation and wait for the runtime's answer: (status, headers, payload)."""
        request_id = str(uuid.uuid4())
        answer: queue.Queue = queue.Queue(maxsize=1)
        self.results[request_id] = answer
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.pending.put((request_id, body))
        try:
            return answer.get(timeout=self.timeout_s)
        except queue.Empty:
            if self.init_error is not None:
                return 200, {"X-Amz-Function-Error": "Unhandled"}, self.init_error
            return 504, {}, {"errorType": "Timeout", "errorMessage": f"no answer from the runtime within {self.timeout_s} s"}
        finally:
            self.results.pop(request_id, None)

    def _handler_class(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                if self.path == f"{RUNTIME_PREFIX}/invocation/next":
                    if emulator.first_next_at is None:
                        emulator.first_next_at = time.perf_counter()
                    request_id, body = emulator.pending.get()  # long poll, as the real API
                    deadline = int((time.time() + emulator.timeout_s) * 1000)
                    self._send(200, body, {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:SearchFunction",
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                    })
                elif self.path == f"{RUNTIME_PREFIX}/restore/next":
                    # SnapStart: the runtime ran its before-snapshot hooks and waits here while Lambda
                    # snapshots it; the answer means "restored". Here the snapshot is instant.
                    emulator.restored_at = time.perf_counter()
                    self._send(200, b"{}")
                else:
                    self._send(404, b'{"errorMessage": "unknown path"}')

            def do_POST(self) -> None:
                body = self._body()
                parts = self.path.split("/")
                if self.path == INVOKE_PATH:
                    status, headers, payload = emulator.invoke(body or b"{}")
                    self._send(status, json.dumps(payload).encode(), headers)
                elif self.path == f"{RUNTIME_PREFIX}/init/error":
                    emulator.init_error = json.loads(body or b"{}")
                    self._send(202, b'{"status": "OK"}')
                elif self.path == f"{RUNTIME_PREFIX}/restore/error":
                    emulator.restore_error = json.loads(body or b"{}")
                    self._send(202, b'{"status": "OK"}')
                elif self.path.startswith(f"{RUNTIME_PREFIX}/invocation/") and parts[-1] in ("response", "error"):
                    request_id = parts[-2]
                    target = emulator.results.get(request_id)
                    payload = json.loads(body) if body else None
                    headers = {"X-Amz-Function-Error": "Unhandled"} if parts[-1] == "error" else {}
                    if target is not None:
                        target.put((200, headers, payload))
                    self._send(202, b'{"status": "OK"}')
                else:
                    self._send(404, b'{"errorMessage": "unknown path"}')

        return Handler


def find_runtime_python() -> str:
    candidate = RUNTIME_VENV / "bin" / "python"
    if candidate.exists():
        return str(candidate)
    raise UsageError(f"no Python 3.12 with awslambdaric in {RUNTIME_VENV}: run scripts/setup_env.sh (or pass --python)")


class LocalLambda:
    """The emulator plus one runtime process running the artifact, like one execution environment."""

    def __init__(self, artifact: Path, python: str, env: dict[str, str] | None = None, handler: str = "handler.lambda_handler",
                 timeout_s: float = 30, snapstart: bool = False) -> None:
        """snapstart=True: the runtime is told its init is SnapStart's (AWS_LAMBDA_INITIALIZATION_TYPE),
        so awslambdaric runs the before-snapshot hooks, asks to be restored, then runs the after-restore hooks."""
        self.emulator = RuntimeEmulator(timeout_s=timeout_s).start()
        runtime_env = {
            # what Lambda sets (a subset), and nothing from this machine's Python setup
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_LAMBDA_RUNTIME_API": self.emulator.address,
            "LAMBDA_TASK_ROOT": str(artifact),
            "LAMBDA_RUNTIME_DIR": str(Path(python).parent),
            "_HANDLER": handler,
            "AWS_LAMBDA_FUNCTION_NAME": "SearchFunction",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if snapstart else "on-demand",
            "PYTHONPATH": str(artifact),
            "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only on Lambda
            "MODEL_DIR": str(artifact / MODEL_FOLDER),
            "SCHEMA_FILE": str(artifact / ARTIFACT_SCHEMA_FILE),  # as template.yaml sets it
            **(env or {}),
        }
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [python, "-m", "awslambdaric", handler], cwd=artifact, env=runtime_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.log: list[str] = []
        self._reader = threading.Thread(target=lambda: self.log.extend(self.process.stdout), daemon=True)
        self._reader.start()

    def wait_ready(self, timeout_s: float = 60) -> float:
        """Seconds from process start to the runtime's first request for work (the init phase)."""
        deadline = time.time() + timeout_s
        while self.emulator.first_next_at is None and self.emulator.init_error is None:
            if self.process.poll() is not None or time.time() > deadline:
                break
            time.sleep(0.005)
        if self.emulator.first_next_at is None:
            raise RuntimeError(f"the runtime did not start: {self.emulator.init_error or self.emulator.restore_error or ''}\n{''.join(self.log)[-3000:]}")
        return self.emulator.first_next_at - self.started

    def invoke(self, event: dict) -> tuple[dict, dict, float]:
        started = time.perf_counter()
        _, headers, payload = self.emulator.invoke(event)
        return payload, headers, time.perf_counter() - started

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.emulator.stop()


def function_environment(artifact: Path, given: dict[str, str], tmp: Path) -> dict[str, str]:
    """The function's storage variables, as template.yaml sets them on Lambda: an embedded artifact
    with a baked shard reads it (QDRANT_SHARD_SOURCE = its qdrant_shard.zip) into a fresh
    QDRANT_PATH under the environment's /tmp (`tmp`), with no variable set by hand; otherwise the
    collection at this machine's QDRANT_PATH, or the server at QDRANT_URL. `given` (--env) and
    variables set in this shell win."""
    function_env = dict(given)
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "COLLECTION_NAME", "QDRANT_SHARD_SOURCE"):
        function_env.setdefault(name, env(name))
    baked = artifact / SHARD_ARCHIVE
    if built_mode(artifact) == "embedded" and baked.is_file() and not function_env["QDRANT_SHARD_SOURCE"]:
        function_env["QDRANT_SHARD_SOURCE"] = str(baked.absolute())  # template.yaml: /var/task/qdrant_shard.zip
        if env("QDRANT_PATH") == ENV["QDRANT_PATH"][0]:  # not set here: Lambda's /tmp/qdrant_storage
            function_env.setdefault("QDRANT_PATH", str(tmp / "qdrant_storage"))
    function_env.setdefault("QDRANT_PATH", str(Path(env("QDRANT_PATH")).absolute()))
    return function_env


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, default=ARTIFACT_DIR)
    parser.add_argument("--event", type=Path, help="event JSON to invoke once (e.g. infra/events/http_api_v2.json)")
    parser.add_argument("--python", default=None, help="Python 3.12 with awslambdaric (default: .venv312/bin/python)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment for the function (repeatable)")
    parser.add_argument("--serve", action="store_true", help="keep serving invocations on --port")
    parser.add_argument("--snapstart", action="store_true", help="run the SnapStart lifecycle: before-snapshot hooks, restore, after-restore hooks")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)

    if not (args.artifact / "handler").is_dir():
        raise UsageError(f"no artifact in '{args.artifact}': build it with `make artifact`")
    given = {}
    for item in args.env:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise UsageError(f"--env {item!r}: expected NAME=VALUE")
        given[name] = value
    scratch = tempfile.TemporaryDirectory(prefix="local-lambda-tmp-")  # the environment's /tmp
    function_env = function_environment(args.artifact, given, Path(scratch.name))
    function = LocalLambda(args.artifact, args.python or find_runtime_python(), function_env, snapstart=args.snapstart)
    try:
        init_s = function.wait_ready()
        say(f"init: {init_s * 1000:.0f} ms (process start to first /invocation/next)")
        if args.event:
            payload, headers, seconds = function.invoke(json.loads(args.event.read_text()))
            say(f"invoke: {seconds * 1000:.1f} ms{' (function error)' if headers.get('X-Amz-Function-Error') else ''}")
            print(json.dumps(payload, indent=2))
        if args.serve:
            # A second listener on the fixed port, forwarding to the emulator's invoke API.
            front = RuntimeEmulator(port=args.port)
            front.invoke = function.emulator.invoke  # same queue, well-known port
            front.start()
            say(f"invoke with: curl -XPOST http://127.0.0.1:{args.port}{INVOKE_PATH} -d @infra/events/http_api_v2.json")
            while function.process.poll() is None:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        function.close()
        scratch.cleanup()
        sys.stderr.write("".join(function.log[-20:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
