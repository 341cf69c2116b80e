"""Throughput and latency of `python -m handler` under concurrent clients, on 127.0.0.1 only.

    python -m scripts.bench_load [--concurrency 1,4,16] [--seconds 10] [--input FILE] [--baseline CHECKOUT]
    python -m scripts.bench_load --url http://127.0.0.1:8000 [--concurrency ...] [--seconds ...]
    python -m scripts.bench_load ... --long 16 [--concurrency 4]   # 16 more clients send distinct 1,000-character queries

Starts the server and the --baseline checkout's server side by side (each on its own copy of the
shard; `--server-cpus 0` pins them to one core), or loads one already running at --url (on this
machine: 127.0.0.1 or localhost only), then for each concurrency runs that many keep-alive
clients for --seconds, each sending the next search as soon as it has the last answer. The
seconds are split into --rounds turns that alternate the servers (the other one idles), so a
shared machine's load falls on both alike. Prints requests/s, p50, p95, p99
and errors per concurrency. Bounded in time and in count; the client shares the machine's cores with
the server, as in the goal it was written for (c=16 throughput >= 1.5x the baseline's, p99 <= 4x
the c=1 p50, no errors). `--long N` adds N clients that send distinct 1,000-character hybrid
queries (none repeats, so the query cache never answers them) beside the --concurrency clients'
short ones, and reports each kind apart: what long queries cost, and whether short ones starve
(each level's short clients are also timed alone, and their p99 beside the long ones is given
as a multiple of that idle p99; `--concurrency 0 --long 16`: long clients alone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from handler.common import UsageError, cli, env, load_schema, say
from handler.storage import read_records
from reference import SAMPLE_FILE
from scripts import benchkit

COLLECTION = "bench"
MAX_REQUESTS_PER_RUN = 20_000
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LONG_CHARS = 1000  # QUERY_MAX_CHARS' default: the longest query the API takes


class LongPaths:
    """Distinct LONG_CHARS-character hybrid queries made of the input's records' text: the i-th is
    numbered, so no two are alike (nor any in the query cache)."""

    def __init__(self, input_path: Path, prefix: str = "") -> None:
        records, _ = read_records(input_path, load_schema())
        texts = [" ".join(v for v in r.data.values() if isinstance(v, str)) for r in records[:400]]
        self.text = " ".join(t for t in texts if t) or "a long query about nothing in particular"
        self.prefix = prefix

    def __getitem__(self, i: int) -> str:
        start = (i * 97) % max(1, len(self.text) - LONG_CHARS)
        body = f"{i} {self.text[start:start + LONG_CHARS]}"[:LONG_CHARS]
        return f"{self.prefix}/api/search?{urlencode({'q': body, 'mode': 'hybrid'})}"

    def __len__(self) -> int:
        return 1 << 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(root: Path, port: int, qdrant_path: Path, model_dir: Path, prefix: list[str] = ()) -> subprocess.Popen:
    child_env = {**os.environ, "PYTHONPATH": str(root), "HOST": "127.0.0.1", "PORT": str(port), "MODEL_DIR": str(model_dir),
                 "QDRANT_PATH": str(qdrant_path), "QDRANT_URL": "", "COLLECTION_NAME": COLLECTION, "LOG_LEVEL": "WARNING",
                 "QUERY_CACHE_SIZE": "0"}  # the model on every request: the cache is not what is measured
    process = subprocess.Popen([*prefix, sys.executable, "-m", "handler"], cwd=root, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise UsageError(f"the server in {root} exited: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=warm+up", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise UsageError(f"the server in {root} did not answer within 60 s")


async def client(host: str, port: int, paths: list[str], offset: int, deadline: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline and len(latencies) + len(errors) < MAX_REQUESTS_PER_RUN:
            started = time.perf_counter()
            writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            i += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " in status_line:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors.append(status_line.decode(errors="replace").strip() or "connection closed")
                if not status_line:
                    return
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


async def run_load(port: int, paths: list[str], concurrency: int, seconds: float, host: str = "127.0.0.1",
                   long_clients: int = 0, long_paths: LongPaths | None = None) -> dict:
    row = raw_load(port, paths, concurrency, seconds, host, long_clients, long_paths)
    return summary(await row)


async def raw_load(port: int, paths: list[str], concurrency: int, seconds: float, host: str = "127.0.0.1",
                   long_clients: int = 0, long_paths: LongPaths | None = None, offset: int = 0) -> dict:
    """One timed load: the latencies and errors of each kind of client, and the seconds it took."""
    latencies: list[float] = []
    errors: list[str] = []
    long_latencies: list[float] = []
    long_errors: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client(host, port, paths, offset + k * 7, deadline, latencies, errors) for k in range(concurrency)),
                         *(client(host, port, long_paths, offset + k * 100_003, deadline, long_latencies, long_errors) for k in range(long_clients)))
    return {"concurrency": concurrency, "long_clients": long_clients, "elapsed": time.perf_counter() - started,
            "short": (latencies, errors), "long": (long_latencies, long_errors)}


def merged(parts: list[dict]) -> dict:
    """Loads of one server at one level (interleaved turns), as one."""
    first = parts[0]
    return {**first, "elapsed": sum(p["elapsed"] for p in parts),
            "short": tuple(sum((p["short"][i] for p in parts), []) for i in (0, 1)),
            "long": tuple(sum((p["long"][i] for p in parts), []) for i in (0, 1))}


def summary(raw: dict) -> dict:
    row = stats(*raw["short"], raw["elapsed"])
    row["concurrency"] = raw["concurrency"]
    if raw["long_clients"]:
        row["long"] = {**stats(*raw["long"], raw["elapsed"]), "concurrency": raw["long_clients"]}
    return row


def stats(latencies: list[float], errors: list[str], elapsed: float) -> dict:
    return {
        "requests": len(latencies), "rps": len(latencies) / elapsed,
        "p50": benchkit.median(latencies) if latencies else float("nan"),
        "p95": benchkit.percentile(latencies, 95) if latencies else float("nan"),
        "p99": benchkit.percentile(latencies, 99) if latencies else float("nan"), "errors": len(errors),
        "error_kinds": sorted(set(errors))[:3],
    }


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_load", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=SAMPLE_FILE)
    parser.add_argument("--vectors", type=Path, default=None)
    parser.add_argument("--qdrant-path", type=Path, default=Path("bench_qdrant"))
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")))
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level (at most 120)")
    parser.add_argument("--baseline-model-dir", type=Path, default=None, help="the baseline's export (default: --model-dir)")
    parser.add_argument("--baseline", default=None, help="another checkout of this project to load the same way")
    parser.add_argument("--url", default=None, help="load a server already running here (http://127.0.0.1:PORT) instead of starting one")
    parser.add_argument("--rounds", type=int, default=3, help="turns per level: each server's --seconds are split into this many, alternating")
    parser.add_argument("--server-cpus", default="", help="run the servers under `taskset -c CPUS` (for example 0: one core; the clients are not pinned)")
    parser.add_argument("--long", type=int, default=0, metavar="N",
                        help=f"N more clients sending distinct {LONG_CHARS}-character hybrid queries beside the short ones (reported apart)")
    args = parser.parse_args(argv)
    try:
        levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        raise UsageError(f"--concurrency {args.concurrency!r} is not a comma-separated list of numbers") from None
    if not 1 <= args.rounds <= 20:
        raise UsageError("--rounds must be in 1..20")
    if args.server_cpus and not all(part.isdigit() for part in args.server_cpus.replace("-", ",").split(",")):
        raise UsageError(f"--server-cpus {args.server_cpus!r} is not a CPU list as taskset reads it (0, or 0,1, or 0-1)")
    if not 0 < args.seconds <= 120 or not all(0 <= c <= 64 for c in levels) or not 0 <= args.long <= 64 or (0 in levels and not args.long):
        raise UsageError("--seconds must be in (0, 120], each concurrency in 1..64 (0 with --long: long clients alone) and --long in 0..64")
    if args.url:
        if args.baseline:
            raise UsageError("--url loads one running server; --baseline starts servers: pick one")
        results = {args.url: load_url(args.url, args.input, levels, args.seconds, args.long)}
        report(results, levels)
        return 0

    shard_root = (args.qdrant_path / args.input.stem).absolute()
    points = benchkit.ensure_shard(args.input, args.vectors, shard_root, COLLECTION, args.model_dir)
    paths = [f"/api/search?{urlencode(q)}" for q in benchkit.workload(args.input, 200, mode="neural")]  # a mode every checkout knows
    say(f"{points} points ({args.input.name}), {args.seconds:g} s per level in {args.rounds} turns, client and server on {benchkit.cpu_name()}, "
        f"load {os.getloadavg()[0]:.2f} (1 min)")

    checkouts = [("this checkout", benchkit.ROOT)] + ([("baseline", benchkit.checkout(args.baseline))] if args.baseline else [])
    prefix = ["taskset", "-c", args.server_cpus] if args.server_cpus else []
    servers, copies, ports = [], [], {}
    try:  # every server up at once, idle but for its turns: the same moments of a shared machine fall on each
        for label, root in checkouts:
            copy = shard_root.parent / f"{shard_root.name}-load-copy-{len(copies)}"  # a server holds its shard: a copy of its own
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(shard_root, copy)
            copies.append(copy)
            ports[label] = free_port()
            model_dir = (args.baseline_model_dir or args.model_dir) if root != benchkit.ROOT else args.model_dir
            servers.append(start_server(root, ports[label], copy, model_dir.absolute(), prefix))
        long_paths = LongPaths(args.input) if args.long else None
        mixes = [0, args.long] if args.long else [0]
        turns: dict[tuple[str, int, int], list[dict]] = {}
        for turn in range(args.rounds):
            for c in levels:  # each level's turns alternate the servers' order
                for mix in mixes:  # with --long: the short clients alone (idle), then beside the long ones
                    if c == 0 and mix == 0:
                        continue
                    for label, _ in (checkouts if turn % 2 == 0 else checkouts[::-1]):
                        turns.setdefault((label, c, mix), []).append(asyncio.run(raw_load(
                            ports[label], paths, c, args.seconds / args.rounds, long_clients=mix, long_paths=long_paths, offset=turn * 1_000_003)))
        results = {}
        for label, _ in checkouts:
            rows = []
            for c in levels:
                row = summary(merged(turns[label, c, 0])) if (label, c, 0) in turns else {"concurrency": c, **stats([], [], 1.0)}
                if args.long:
                    row["beside_long"] = summary(merged(turns[label, c, args.long]))
                rows.append(row)
            results[label] = rows
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        for copy in copies:
            shutil.rmtree(copy, ignore_errors=True)
    say(f"load after the run: {os.getloadavg()[0]:.2f} (1 min)" + (f"; servers on CPUs {args.server_cpus}" if args.server_cpus else ""))

    report(results, levels)
    return 0


def load_url(url: str, input_path: Path, levels: list[int], seconds: float, long_clients: int = 0) -> list[dict]:
    """The load on a server someone else started: same workload, same clients."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
        raise UsageError(f"--url {url!r}: only a plain-HTTP server on this machine (http://127.0.0.1:PORT or http://localhost:PORT)")
    port = parts.port or 80
    prefix = parts.path.rstrip("/")
    paths = [f"{prefix}/api/search?{urlencode(q)}" for q in benchkit.workload(benchkit.existing_file(input_path), 200, mode="neural")]
    say(f"loading {url}, {seconds:g} s per level; client on {benchkit.cpu_name()}")
    long_paths = LongPaths(benchkit.existing_file(input_path), prefix) if long_clients else None
    return [asyncio.run(run_load(port, paths, c, seconds, host=parts.hostname, long_clients=long_clients, long_paths=long_paths)) for c in levels]


def args_long(row: dict) -> int:
    return row["beside_long"]["long"]["concurrency"]


def report(results: dict[str, list[dict]], levels: list[int]) -> None:
    print(f"{'server':<16} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, rows in results.items():
        for row in rows:
            kinds = f"  {row['error_kinds']}" if row["errors"] else ""
            if row["concurrency"] == 0:  # long clients alone: their row below
                print(f"{label:<16} {'(none)':>7}")
            else:
                print(f"{label:<16} {row['concurrency']:>7} {row['rps']:>8.1f} {row['p50']:>8.2f} {row['p95']:>8.2f} {row['p99']:>8.2f} {row['errors']:>7}{kinds}")
            mixed = row.get("beside_long")
            if mixed and row["concurrency"]:
                kinds = f"  {mixed['error_kinds']}" if mixed["errors"] else ""
                print(f"{'  short, mixed':<16} {mixed['concurrency']:>7} {mixed['rps']:>8.1f} {mixed['p50']:>8.2f} {mixed['p95']:>8.2f} "
                      f"{mixed['p99']:>8.2f} {mixed['errors']:>7}{kinds}")
            for long in [part["long"] for part in (row, mixed) if part and "long" in part]:
                kinds = f"  {long['error_kinds']}" if long["errors"] else ""
                print(f"{'  + long':<16} {long['concurrency']:>7} {long['rps']:>8.1f} {long['p50']:>8.2f} {long['p95']:>8.2f} {long['p99']:>8.2f} "
                      f"{long['errors']:>7}{kinds}")
    ours = {row["concurrency"]: row for row in next(iter(results.values()))}
    if 1 in ours and max(levels) > 1:
        top = ours[max(levels)]
        print(f"c={max(levels)}: p99 {top['p99']:.1f} ms = {top['p99'] / ours[1]['p50']:.1f}x the c=1 p50 (goal <= 4x)")
    for label, rows in results.items():
        for row in rows:
            mixed = row.get("beside_long")
            if mixed and row["concurrency"] and row["requests"]:
                print(f"{label}, c={row['concurrency']}: short p99 beside {mixed['long']['concurrency']} long clients "
                      f"{mixed['p99']:.1f} ms = {mixed['p99'] / row['p99']:.1f}x its idle p99 (goal < 4x)")
    if "baseline" in results:
        base = {row["concurrency"]: row for row in results["baseline"]}
        for c in levels:
            if c and base[c]["rps"]:
                print(f"c={c}: throughput {ours[c]['rps'] / base[c]['rps']:.2f}x the baseline's")
            if ours[c].get("beside_long") and base[c]["beside_long"]["long"]["rps"]:
                print(f"c={c} + {args_long(ours[c])} long: long throughput {ours[c]['beside_long']['long']['rps'] / base[c]['beside_long']['long']['rps']:.2f}x "
                      "the baseline's")


if __name__ == "__main__":
    sys.exit(main())
