"""python -m export --out DIR [--model HUB_ID_OR_PATH] [--probe-file JSONL]

Exit status: 0 written; 1 parity gate failed or unexpected error; 2 bad input or environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from export.parity import SAMPLE_FILE

    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory (replaced whole on success, untouched on failure)")
    parser.add_argument("--model", default=None, help="hub id or local sentence-transformers directory (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--probe-file", type=Path, default=SAMPLE_FILE, help=f"JSON-lines records added to the parity probes (default: {SAMPLE_FILE})")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        from export.pipeline import ExportError, ParityError, run_export
    except ImportError as exc:
        print(f"error: the export needs the 'export' extra: pip install -e '.[cpu,export]' ({exc})", file=sys.stderr)
        return 2
    try:
        run_export(args.out, args.model, args.probe_file)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ParityError as exc:
        print(f"error: {exc}; nothing was written to {args.out}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or a broken install: say what, keep the traceback behind a flag
        if os.environ.get("EXPORT_DEBUG"):
            raise
        print(f"error: export failed: {type(exc).__name__}: {exc} (set EXPORT_DEBUG=1 for the traceback); nothing was written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
