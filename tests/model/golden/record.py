"""Record the golden vectors once, from sentence-transformers (the reference), into
minilm_l6_v2.json beside this file. Run with the export extra installed:

    .venv/bin/python tests/model/golden/record.py

tests/model/test_golden.py then checks the ONNX fp32 graph against these numbers without torch,
the way fastembed's canonical-vector tests pin each model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root

TEXTS = [
    "vegan food delivery in berlin",
    "Qdrant is a vector database & vector similarity search engine.",
    "东京的初创公司",
    "",
]
FIRST = 8  # values kept per vector


def main() -> None:
    import sentence_transformers

    from reference import load_sentence_transformer

    model = load_sentence_transformer()
    vectors = model.encode(TEXTS, normalize_embeddings=True)
    golden = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (official weights, sha256 53aa5117…d9db)",
        "recorded_with": f"sentence-transformers {sentence_transformers.__version__}",
        "dim": int(vectors.shape[1]),
        "vectors": [{"text": t, "first": [round(float(x), 7) for x in v[:FIRST]]} for t, v in zip(TEXTS, vectors)],
    }
    (HERE / "minilm_l6_v2.json").write_text(json.dumps(golden, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {HERE / 'minilm_l6_v2.json'}")


if __name__ == "__main__":
    main()
