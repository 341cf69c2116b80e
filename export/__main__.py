"""python -m export --out DIR [--model HUB_ID_OR_PATH] [--probe-file JSONL]

Exit status: 0 written; 1 parity gate failed or unexpected error; 2 bad input or environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from handler.common import UsageError, cli
from reference import BENCH_FILE, SAMPLE_FILE


@cli(interrupted="nothing was written")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (replaced whole on success, untouched on failure)")
    parser.add_argument("--model", default=None, help="hub id or local sentence-transformers directory (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--probe-file", type=Path, default=SAMPLE_FILE, help=f"JSON-lines records added to the parity probes (default: {SAMPLE_FILE})")
    parser.add_argument("--held-out-file", type=Path, default=BENCH_FILE, help=f"JSON-lines file whose held-out lines the gate also checks (default: {BENCH_FILE})")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # huggingface_hub's own switch, for hub ids
    try:
        from export.pipeline import run_export
    except ImportError as exc:
        raise UsageError(f"the export needs the 'export' extra: pip install -e '.[cpu,export]' ({exc})") from exc
    run_export(args.out, args.model, args.probe_file, args.held_out_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
