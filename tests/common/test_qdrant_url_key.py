"""A QDRANT_URL carrying the API key in its query string (`?api-key=...`) is refused at start,
naming the variable and the fix (before: accepted, redacted in logs, never sent by qdrant-client,
and every call answered 401). The key itself is never shown."""

from __future__ import annotations

import pytest

from handler.common import ConfigError, Settings


@pytest.mark.parametrize("url", ["https://qdrant.example.com:6333?api-key=S3cretK3y", "http://127.0.0.1:6333/?api_key=S3cretK3y&x=1",
                                 "http://127.0.0.1:6333?token=S3cretK3y"])
def test_a_key_in_the_urls_query_is_refused_naming_the_fix(monkeypatch, url):
    monkeypatch.setenv("QDRANT_URL", url)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert "QDRANT_URL" in message and "QDRANT_API_KEY" in message and "query string" in message
    assert "S3cretK3y" not in message and caught.value.exit_code == 2


def test_a_query_without_credentials_is_accepted(monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:6333?timeout=5")
    assert Settings.from_env().qdrant_url == "http://127.0.0.1:6333?timeout=5"
