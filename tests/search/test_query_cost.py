"""A query's cost bound: the service embeds a query from at most QUERY_MAX_TOKENS tokens (its
first ones, the special tokens kept), so a 1,000-character query costs the model what a
128-token one does; BM25 (hybrid, text) still reads all of it. Real model, real Qdrant Edge."""

from __future__ import annotations

import numpy as np
import pytest

from handler.common import ConfigError, Settings

HEAD = ("A platform that helps hospitals and clinics hire physicians, nurses and locum doctors, manage their referrals, "
        "schedule shifts across departments and keep every credential and licence checked and up to date for the regulator. ") * 4
TAILS = ("Payments for freelancers and small businesses, invoices and taxes in one app. " * 4,
         "Vegan food delivery with meal plans, recipes and groceries at your door every week. " * 4)


def test_a_long_query_is_embedded_from_its_first_tokens_only(service):
    encoder = service.encoder
    assert encoder.max_length == service.settings.query_max_tokens == 128
    from tokenizers import Tokenizer

    whole = Tokenizer.from_file(str(encoder.model_path.parent / "tokenizer.json"))  # as exported: truncates at 256 only
    assert len(whole.encode(HEAD).ids) > 128  # the head alone fills the budget
    first, second = (service.embed_queries([HEAD + tail])[0] for tail in TAILS)
    assert float(np.dot(first, second)) > 0.9999  # the tails are past the budget: the same vector (before: two)
    ids = encoder.tokenizer.encode(HEAD + TAILS[0]).ids
    assert len(ids) == 128 and ids[-1] == encoder.tokenizer.token_to_id("[SEP]")


def test_a_query_under_the_budget_is_embedded_whole(service):
    short = "vegan food delivery"
    assert np.allclose(service.embed_queries([short])[0], service.encoder.embed([short])[0], atol=1e-6)
    assert float(np.dot(service.embed_queries([HEAD[:200]])[0], service.embed_queries([HEAD[:200] + TAILS[0][:80]])[0])) < 0.99


def test_bm25_still_reads_the_whole_query(service):
    """Hybrid and text ask BM25 with the whole `q`: the words past the budget still count there."""
    bm25 = service.bm25()
    assert bm25.query(HEAD + TAILS[0]).indices != bm25.query(HEAD + TAILS[1]).indices


@pytest.mark.parametrize("value", ["0", "7", "many"])
def test_a_budget_too_small_to_hold_a_query_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("QUERY_MAX_TOKENS", value)
    with pytest.raises(ConfigError, match="QUERY_MAX_TOKENS"):
        Settings.from_env()


def test_a_budget_above_the_models_is_the_models(service, model_dir):
    from handler.model import Encoder

    encoder = Encoder.from_export(model_dir, service.encoder.variant, verify="size")
    encoder.limit_tokens(4096)
    assert encoder.max_length == 256
