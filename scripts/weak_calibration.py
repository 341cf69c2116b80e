"""The weak-match calibration of a collection, measured on the collection itself (`scripts.upload`
and `--sync` run it after writing, and keep it with the collection: `handler.search.weak`).

Probes that match nothing in any catalogue (random letters, keyboard runs, numbers, symbols and
emoji, greetings in scripts the model was not trained on) are searched like queries; their
nearest cosines and whether their answers share a word with them place the two thresholds:

- close: above nearly every probe whose answers share no word (the CLOSE_QUANTILE of them), plus MARGIN;
- far: the FAR_QUANTILE of the probes' nearest cosines (below it, even a shared word is chance).

None of these probes is in the evaluation sets of `scripts.query_sets`.
"""

from __future__ import annotations


from handler.search import SHOWN_ANSWERS, Calibration, answers_share_word
from handler.storage import Bm25Encoder

PROBES = (
    # random letters
    "vqxhr", "kzjwpf", "qqzrt", "xjvkw", "pzzmq", "wqkx", "bvqjx", "hxzqv", "jqxz wvk", "zqpm rtvx", "kvzx qj", "mxqz",
    # keyboard runs and repeats
    "asdasd", "qazwsx", "poiuytrewq", "mnbvcxz", "ffffff", "xxxxxx", "ababab", "qweqwe",
    # numbers, symbols, emoji
    "98765", "2718 2818", "0.0001", "***", "#$%^&", "~~~", ",,,,", "🎈🎉", "🐢", "🔥🔥", "🙂🙃", "⭐⭐⭐",
    # greetings and small talk in scripts the model does not read
    "天气预报", "音乐下载", "日本の天気", "안녕하세요", "สวัสดีครับ", "مرحبا بكم", "שלום עולם", "नमस्ते दुनिया", "привет мир",
    "добрый вечер", "Καλημέρα", "გამარჯობა", "Բարեւ", "ሰላም", "வணக்கம்", "নমস্কার", "سلام دنیا",
)

FAR_QUANTILE = 0.25
CLOSE_QUANTILE = 1.0  # the highest: every probe
MARGIN = 0.005  # chosen with scripts.calibrate_weak's settings table on both catalogues (docs/quality.md)


def signals(storage, encoder, bm25: Bm25Encoder, texts) -> list[tuple[float | None, bool]]:
    """Each text's best cosine in the collection and whether its first answers share a word with it."""
    texts = list(texts)
    rows = []
    for text, vector in zip(texts, encoder.embed(texts)):
        hits = storage.search(vector, SHOWN_ANSWERS)
        rows.append((hits.nearest, answers_share_word(text, hits, storage.schema.text_fields, bm25.words)))
    return rows


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def thresholds(rows: list[tuple[float | None, bool]], far_q: float = FAR_QUANTILE, close_q: float = CLOSE_QUANTILE,
               margin: float = MARGIN) -> tuple[float, float]:
    """(far, close) from the probes' signals (the rule in the module's docstring)."""
    cosines = [nearest for nearest, _ in rows if nearest is not None]
    alone = [nearest for nearest, shared in rows if nearest is not None and not shared] or cosines
    far = round(quantile(cosines, far_q), 3)
    close = round(min(quantile(alone, close_q) + margin, 1.0), 3)
    return min(far, close), close


def calibrate(storage, encoder, bm25: Bm25Encoder | None = None) -> Calibration | None:
    """The collection's calibration, measured with the PROBES; None for an empty collection."""
    if not storage.count():
        return None
    rows = signals(storage, encoder, bm25 or Bm25Encoder(), PROBES)
    far, close = thresholds(rows)
    return Calibration(far, close, {"probes": len(PROBES), "variant": encoder.variant, "rule": f"far q{FAR_QUANTILE}, close q{CLOSE_QUANTILE} + {MARGIN}"})
