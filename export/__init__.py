"""ONNX export of sentence-transformers/all-MiniLM-L6-v2 with pooling and normalization in the graph.

Run it as `python -m export --out DIR [--model HUB_ID_OR_PATH]`. Needs the `export` extra;
the serving path never imports this package.
"""

from export.pipeline import ExportError, ParityError, run_export

__all__ = ["run_export", "ExportError", "ParityError"]
