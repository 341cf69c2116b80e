"""What the benchmark scripts share: the workload (queries, cities, events), a loaded shard, child
processes that run one engine each, percentiles and the machine's name.

Each engine runs in a child process of its own, one after another (a Qdrant Edge shard is opened
by one process at a time, and a fresh process is what a cold start is). A child is a short
program run with `python -c` in a checkout's root, so `--baseline DIR` can time an older
checkout of this project with the same workload in the same run.
"""

from __future__ import annotations

import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from handler.common import Schema, UsageError, env, load_schema, say
from handler.storage import read_records

ROOT = Path(__file__).resolve().parents[1]
EVENT_FILE = ROOT / "infra" / "events" / "http_api_v2.json"
QUERIES = [
    "vegan food delivery", "QR codes for restaurants", "machine learning for hospitals", "online marketplace for used cars",
    "library for parsing JSON", "3D strategy game", "python bindings for image processing", "password manager",
    "fintech payments for small businesses", "web server with TLS", "social network for pet owners", "video player",
    "renewable energy solar panels", "database driver for PostgreSQL", "recipe recommendations", "backup software",
    "developer tools for continuous integration", "font with Chinese characters", "ride sharing for commuters", "spell checker",
]


def existing_file(path: Path, flag: str = "--input") -> Path:
    """A clear error for a missing input (the shared data lives beside the checkout: ../shared/data)."""
    if not Path(path).is_file():
        raise UsageError(f"{flag} '{path}' does not exist or is not a file (the shared data folder is ../shared/data beside the checkout)")
    return Path(path)


def cpu_name() -> str:
    """The CPU every figure names: its model (an arm64 core by its part) and kernel-deciding features, and the cores."""
    from handler.model import cpu_description

    return f"{cpu_description()} ({os.cpu_count()} cores)"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def add_schema_argument(parser) -> None:
    parser.add_argument("--schema", default=env("SCHEMA_FILE"), help="the schema of --input, a TOML file (docs/schema.md; default: $SCHEMA_FILE, "
                        "else the built-in startups schema)")


def schema_env(path: str) -> dict[str, str]:
    """What a benchmark's child needs to serve the same schema (an older checkout ignores it)."""
    return {"SCHEMA_FILE": str(Path(path).absolute())} if path else {}


def top_values(input_path: Path, schema: Schema, n: int = 3) -> tuple[str | None, list[str]]:
    """The schema's first keyword field (the startups schema's: city) and its n commonest values."""
    if not schema.keywords:
        return None, []
    field = schema.keywords[0]
    records, _ = read_records(input_path, schema)
    return field, [value for value, _ in collections.Counter(r.data.get(field) for r in records if r.data.get(field)).most_common(n)]


def workload(input_path: Path, requests: int, mode: str | None = None, schema: Schema | None = None) -> list[dict]:
    """`requests` query-string dicts: QUERIES in turn, every other one filtered by a common value of
    the schema's first keyword (the startups schema's: a city); `mode` is sent explicitly when
    given (an older checkout's default may differ)."""
    field, values = top_values(input_path, schema or load_schema())
    chosen = [None, *values]
    return [{"q": QUERIES[i % len(QUERIES)], **({field: c} if (c := chosen[i % len(chosen)]) else {}), **({"mode": mode} if mode else {})}
            for i in range(requests)]


def http_api_event(query: dict, path: str = "/api/search") -> dict:
    """The real HTTP API v2 event (infra/events) with this path and query string."""
    event = json.loads(EVENT_FILE.read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["queryStringParameters"] = dict(query)
    event["rawQueryString"] = urlencode(query)
    return event


def ensure_shard(input_path: Path, vectors: Path | None, qdrant_path: Path, collection: str, model_dir: Path, schema: Schema | None = None) -> int:
    """QDRANT_PATH/collection holding input_path's records (embedded and uploaded when absent)."""
    from handler.model import Encoder
    from handler.storage import EdgeStorage
    from scripts.embed import embed_file
    from scripts.upload import load_embedded, upload

    schema = schema or load_schema()
    existing_file(input_path)
    storage = EdgeStorage(qdrant_path, collection, schema)
    if storage.collection_info() is None:
        vectors = vectors or qdrant_path.parent / f"{qdrant_path.name}-vectors"
        if not (vectors / "report.json").is_file():
            say(f"embedding {input_path.name} into {vectors} (once)")
            embed_file(input_path, vectors, Encoder.from_export(model_dir), schema=schema, progress=False)
        schema, items, matrix = load_embedded(input_path, vectors, schema)
        result = upload(storage, items, matrix, schema=schema, batch_size=512, encoder=Encoder.from_export(model_dir))
        say(f"uploaded {result['points']} points into {qdrant_path / collection} in {result['seconds']} s")
    points = storage.count()
    storage.close()
    return points


def run_child(code: str, *args: str, cwd: Path, env: dict[str, str], timeout: float = 600, prefix: list[str] = ()) -> tuple[dict, float]:
    """Run `python -c code args...` in cwd (after `prefix`, e.g. taskset); returns (the JSON its
    last stdout line holds, wall seconds from spawn to exit). The child's stderr is shown only if it fails."""
    started = time.perf_counter()
    result = subprocess.run(
        [*prefix, sys.executable, "-c", code, *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd), **env}, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise UsageError(f"benchmark child in {cwd} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), wall


def plain_session(path: Path, threads: int | None):
    """The onnxruntime session an older checkout's encoder built (all load-time fusions on), for
    timing an older export as it ran then."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def write_events(events: list[dict]) -> Path:
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(events, handle)
    handle.close()
    return Path(handle.name)


def checkout(path: str | None) -> Path:
    """--baseline: a checkout of this project (for example `git worktree add /tmp/before <commit>`)."""
    if path is None:
        return ROOT
    root = Path(path).expanduser().resolve()
    if not (root / "handler" / "__init__.py").is_file():
        raise UsageError(f"--baseline '{path}' is not a checkout of this project (no handler/__init__.py)")
    return root
