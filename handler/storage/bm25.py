"""BM25 sparse vectors for hybrid search, the same numbers as Qdrant's own BM25 (Qdrant Edge's
`Bm25`, the server's `qdrant/bm25`, fastembed's `Qdrant/bm25`) from two small libraries, so the
server-mode Lambda carries no search engine just to encode a query.

A text becomes tokens (runs of letters and digits, lowercased), minus English stopwords (NLTK's
list), each Snowball-stemmed and hashed to an index with murmur3 (abs of the signed 32-bit hash).
A query weighs each distinct token 1; a document weighs each by BM25's term-frequency part,
tf (k + 1) / (tf + k (1 - b + b len / avg_len)) with k=1.2, b=0.75, avg_len=256 and len its token
count. The collection's IDF modifier supplies the rest at search time. A test checks every number
against Qdrant Edge's Bm25 on the sample, the 40k bench corpus and the probes.

The same sparse vector also holds a record's title as character trigrams (`title_grams`: hashed
apart from the words, so no word query meets them): the near-title lookup asks for them.
"""

from __future__ import annotations

import re

from handler.common import Bm25Unavailable, Schema, title_key
from handler.storage.contract import SparseVector

K, B, AVG_LEN = 1.2, 0.75, 256.0
GRAM = 3  # title trigrams: a slip of the fingers spoils at most three of them
GRAM_SALT = "\x00title:"  # hashed with each trigram: apart from every word's index
MEMO = 200_000  # tokens whose index is kept: more than a corpus of this kind uses, a few tens of MB at most
TOKEN = re.compile(r"[^\W_]+")  # letters and digits of any script; underscores and punctuation split
STOPWORDS = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his himself she
she's her hers herself it it's its itself they them their theirs themselves what which who whom this that that'll these
those am is are was were be been being have has had having do does did doing a an the and but if or because as until
while of at by for with about against between into through during before after above below to from up down in out on off
over under again further then once here there when where why how all any both each few more most other some such no nor
not only own same so than too very s t can will just don don't should should've now d ll m o re ve y ain aren aren't
couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn
mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
""".split())


class Bm25Encoder:
    def __init__(self) -> None:
        try:  # deferred: a deployment without them still serves neural and text search (Bm25Unavailable says why)
            import mmh3
            from py_rust_stemmers import SnowballStemmer
        except ImportError as exc:
            raise Bm25Unavailable(f"hybrid search needs mmh3 and py-rust-stemmers for its BM25 vectors ({exc}): pip install mmh3 py-rust-stemmers") from exc
        self._hash = mmh3.hash
        self._stem = SnowballStemmer("english").stem_word
        self._ids: dict[str, int] = {}  # token -> index, memoised: a corpus repeats its words (bounded: MEMO)

    def _indices(self, text: str) -> list[int]:
        ids = []
        for token in TOKEN.findall(text.lower()):
            if token in STOPWORDS:
                continue
            index = self._ids.get(token)
            if index is None:
                if len(self._ids) >= MEMO:  # a long-lived service sees any words its users type: start over, never grow without end
                    self._ids.clear()
                index = self._ids.setdefault(token, abs(self._hash(self._stem(token))))
            ids.append(index)
        return ids

    def words(self, text: str) -> set[tuple[str, str]]:
        """A text's tokens, stopwords left out, each with its stem (as BM25 compares words)."""
        return {(token, self._stem(token)) for token in TOKEN.findall(text.lower()) if token not in STOPWORDS}

    def query(self, text: str) -> SparseVector:
        indices = tuple(sorted(set(self._indices(text))))
        return SparseVector(indices, (1.0,) * len(indices))

    def title_grams(self, key: str, *, typed: bool = False) -> SparseVector:
        """The trigrams of a title's key (`handler.common.title_key`): "^" marks its start and "$" its
        end, but for a query (`typed`: one may stop typing anywhere), whose trigrams weigh 1. A
        title's weigh 1 / sqrt(their number), so that of titles sharing as many with a query the
        shorter come first."""
        marked = f"^{key}" if typed else f"^{key}$"
        indices = sorted({abs(self._hash(GRAM_SALT + marked[i:i + GRAM])) for i in range(max(len(marked) - GRAM + 1, 0))}) if key else []
        weight = 1.0 if typed or not indices else 1.0 / len(indices) ** 0.5
        return SparseVector(tuple(indices), (weight,) * len(indices))

    def record(self, schema: Schema, record: dict) -> SparseVector:
        """A record's sparse vector: BM25 of its indexed text (`Schema.indexed_text`) and its title's trigrams."""
        words, grams = self.document(schema.indexed_text(record)), self.title_grams(title_key(str(record.get(schema.title) or "")))
        weights = dict(zip(words.indices, words.values))
        for index, weight in zip(grams.indices, grams.values):
            weights[index] = weights.get(index, 0.0) + weight
        indices = tuple(sorted(weights))
        return SparseVector(indices, tuple(weights[i] for i in indices))

    def document(self, text: str) -> SparseVector:
        ids = self._indices(text)
        counts: dict[int, int] = {}
        for index in ids:
            counts[index] = counts.get(index, 0) + 1
        norm = K * (1 - B + B * len(ids) / AVG_LEN)
        indices = tuple(sorted(counts))
        return SparseVector(indices, tuple(counts[i] * (K + 1) / (counts[i] + norm) for i in indices))


def query_words(text: str, *, stopwords: bool = False) -> tuple[str, ...]:
    """The distinct words of a query (split at whitespace, lowercased) that text mode requires a
    record to hold: those with a token BM25 keeps (not a stopword), or with any token at all when
    `stopwords` is true. Qdrant's full-text index tokenizes each word again on its side."""
    words: dict[str, None] = {}
    for word in text.lower().split():
        tokens = TOKEN.findall(word)
        if tokens and (stopwords or any(token not in STOPWORDS for token in tokens)):
            words.setdefault(word)
    return tuple(words)
