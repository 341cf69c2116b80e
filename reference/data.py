"""The shared data beside a checkout (read by path, never copied into the repository): what the
tests, the benchmarks and the export's gate measure on. `../shared/data/README.md` describes each."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE_FILE = SHARED_DATA / "startups_sample.jsonl"  # 259 real tutorial records, dirty values included
BENCH_FILE = SHARED_DATA / "bench_corpus_40k.jsonl"  # 40,474 records in the same schema: the tutorial's scale
PACKAGES_FILE = SHARED_DATA / "pypi_packages_20k.jsonl"  # 20,000 Python packages: another schema
