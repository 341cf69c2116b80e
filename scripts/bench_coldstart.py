"""Cold start: a fresh process to its first answer, medians of N runs, in one run.

    python -m scripts.bench_coldstart [--input FILE] [--qdrant-path DIR] [--runs 5] [--baseline CHECKOUT]
                                      [--cores 1|all] [--imports]

Rows: the embedded Lambda handler (import handler.lambda_entry, then one API Gateway event
answered), the server-mode init (QDRANT_URL set, a port that refuses at once: no network wait
is counted, only imports and construction), and the tutorial's searcher (import
sentence-transformers, load the model, one search on the same shard). The clock starts before
the interpreter is spawned and stops when the child prints its answer, so interpreter start-up
counts and teardown does not. The rows are run in turn (one run of each, then the next round), so
a change in the machine's load touches every row alike. `--cores 1` (the default) pins every child
to one core with one thread per engine: Lambda at <= 1,769 MB has one vCPU. Each checkout's own
code is byte-compiled first (its __pycache__), as the Lambda artifact ships it (`infra/build_artifact.py`):
where PYTHONDONTWRITEBYTECODE is set, every child would otherwise compile the project's ~80 modules
from source (about 35 ms of a start, measured on an Intel Xeon), which no deployed function does. `--imports` adds where
the embedded handler's start goes: `python -X importtime`'s own time of each top-level package
(the sum over its modules), and what is not an import (the app, the model's session, the shard,
the warm-up: handler.lambda_entry's own time).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from handler.common import UsageError, cli, env, load_schema, say
from reference import SAMPLE_FILE
from scripts import benchkit

COLLECTION = "bench"
HANDLER = """
import json, sys
import handler.lambda_entry as entry
response = entry.lambda_handler(json.loads(sys.argv[1]), None)
print(json.dumps({"status": response["statusCode"]}), flush=True)
"""
SERVER_INIT = """
import json
import handler.lambda_entry as entry
print(json.dumps({"status": "init done", "backend": entry.app.state.service.storage.backend}), flush=True)
"""
TUTORIAL = """
import json, sys
from handler.common import Settings
from handler.storage import EdgeStorage
from reference import TutorialSearcher
hits = TutorialSearcher(EdgeStorage(sys.argv[2], sys.argv[3], Settings.from_env().schema)).search(json.loads(sys.argv[1])["queryStringParameters"]["q"])
print(json.dumps({"status": 200 if hits else 404}), flush=True)
"""


def first_answer_ms(code: str, args: list[str], cwd: Path, child_env: dict, prefix: list[str] = ()) -> tuple[float, dict]:
    """Milliseconds from spawning `python -c code` to its first line on stdout, and that line."""
    started = time.perf_counter()
    process = subprocess.Popen([*prefix, sys.executable, "-c", code, *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd), **child_env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    while line.startswith('{"level": '):  # the service's log (JSON lines on stdout) is not the answer
        line = process.stdout.readline()
    elapsed = (time.perf_counter() - started) * 1000
    _, err = process.communicate(timeout=120)
    if not line:
        raise UsageError(f"cold-start child in {cwd} printed nothing (exit {process.returncode}):\n{err[-3000:]}")
    return elapsed, json.loads(line)


def byte_compile(root: Path) -> None:
    """The checkout's packages that a child imports, compiled into their __pycache__ (kept: git ignores it)."""
    for package in ("handler", "reference"):
        if (root / package).is_dir() and not compileall.compile_dir(str(root / package), quiet=1):
            raise UsageError(f"cannot byte-compile {root / package} (a syntax error, or a folder that is not writable)")


def refused_port() -> int:
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_coldstart", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SAMPLE_FILE)
    benchkit.add_schema_argument(parser)
    parser.add_argument("--vectors", type=Path, default=None)
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-model-dir", type=Path, default=None, help="the baseline's export (default: --model-dir)")
    parser.add_argument("--baseline", default=None, help="another checkout of this project to time the same way")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--cores", default="1", choices=("1", "all"), help="1 (default): each child pinned to core 0, one thread per engine")
    parser.add_argument("--imports", action="store_true", help="also: the embedded handler's start, import by import (python -X importtime)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        raise UsageError(f"--runs must be at least 1, got {args.runs}")
    if args.cores == "1" and not shutil.which("taskset"):
        raise UsageError("--cores 1 needs taskset (util-linux) to pin the children to one core")
    pin = ["taskset", "-c", "0"] if args.cores == "1" else []

    qdrant_path = (args.qdrant_path / args.input.stem).absolute()
    schema = load_schema(args.schema)
    points = benchkit.ensure_shard(args.input, args.vectors, qdrant_path, COLLECTION, args.model_dir, schema)
    event = json.dumps(benchkit.http_api_event({"q": "vegan food delivery"}))
    embedded_env = {"MODEL_DIR": str(args.model_dir.absolute()), "QDRANT_PATH": str(qdrant_path), "QDRANT_URL": "", "COLLECTION_NAME": COLLECTION, **benchkit.schema_env(args.schema), "LOG_LEVEL": "WARNING",
                    "QUERY_CACHE_SIZE": "0"}
    if args.cores == "1":
        embedded_env["ORT_THREADS"] = "1"
    server_env = {**embedded_env, "QDRANT_URL": f"http://127.0.0.1:{refused_port()}", "QDRANT_TIMEOUT": "1"}
    where = "1 core (taskset), one thread per engine" if args.cores == "1" else f"{os.cpu_count()} cores"
    say(f"fresh process to first answer, median of {args.runs}; {points} points ({args.input.name}); {benchkit.cpu_name()}; {where}")

    rows = []
    checkouts = [("this checkout", benchkit.ROOT)] + ([("baseline " + args.baseline, benchkit.checkout(args.baseline))] if args.baseline else [])
    for _, root in checkouts:
        byte_compile(root)
    for label, root in checkouts:
        model_env = {"MODEL_DIR": str((args.baseline_model_dir or args.model_dir).absolute())} if root != benchkit.ROOT else {}
        rows.append((f"embedded Lambda handler, {label}", HANDLER, [event], root, {**embedded_env, **model_env}))
        rows.append((f"server-mode init (QDRANT_URL set, no network wait), {label}", SERVER_INIT, [], root, {**server_env, **model_env}))
    if not args.skip_reference:
        tutorial_code = ("import torch; torch.set_num_threads(1)\n" if args.cores == "1" else "") + TUTORIAL
        rows.append(("tutorial searcher (sentence-transformers + same shard)", tutorial_code, [event, str(qdrant_path), COLLECTION], benchkit.ROOT, embedded_env))

    samples, answers = {name: [] for name, *_ in rows}, {}
    for _ in range(args.runs):  # a round of every row, then the next: the load's drift touches each alike
        for name, code, child_args, root, child_env in rows:
            ms, answers[name] = first_answer_ms(code, child_args, root, child_env, pin)
            samples[name].append(ms)
    results = [(name, samples[name], answers[name]) for name, *_ in rows]
    reference = next((benchkit.median(s) for n, s, _ in results if n.startswith("tutorial")), None)
    print(f"{'':<70} {'median ms':>10} {'min':>7} {'max':>7} {'tutorial / this':>16}")
    for name, samples, answer in results:
        med = benchkit.median(samples)
        ratio = f"{reference / med:>15.1f}x" if reference else ""
        print(f"{name:<70} {med:>10.0f} {min(samples):>7.0f} {max(samples):>7.0f} {ratio}   ({answer.get('status')})")
    if args.imports:
        print_imports(embedded_env, event, pin)
    return 0


def print_imports(child_env: dict, event: str, pin: list[str]) -> None:
    """The embedded handler's start, one run with `python -X importtime`: each top-level package's
    own import time (its modules' self times summed), biggest first, then what is not an import."""
    result = subprocess.run([*pin, sys.executable, "-X", "importtime", "-c", HANDLER, event], cwd=benchkit.ROOT,
                            env={**os.environ, "PYTHONPATH": str(benchkit.ROOT), **child_env}, capture_output=True, text=True, timeout=300)
    own: dict[str, float] = {}
    entry_ms = 0.0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        fields = line.split(":", 1)[1].split("|")
        if not fields[0].strip().isdigit():  # the header
            continue
        name, self_ms = fields[2].strip(), int(fields[0]) / 1000
        if name == "handler.lambda_entry":
            entry_ms = self_ms  # its own time: everything it runs at import (app, model, shard, warm-up)
            continue
        top = name.split(".")[0]
        own[top] = own.get(top, 0.0) + self_ms
    total = sum(own.values())
    print(f"\nwhere the embedded handler's start goes (one run, python -X importtime, {len(own)} top-level packages):")
    print(f"{'':<46} {'ms':>8}")
    for top, ms in sorted(own.items(), key=lambda item: -item[1])[:14]:
        print(f"{'import ' + top:<46} {ms:>8.1f}")
    print(f"{'every import':<46} {total:>8.1f}")
    print(f"{'handler.lambda_entry itself (app, model, shard)':<46} {entry_ms:>8.1f}")


if __name__ == "__main__":
    sys.exit(main())
