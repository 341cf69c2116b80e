"""Configuration: every environment variable is documented in README.md, and bad values are clear errors."""

from __future__ import annotations

import pytest

from handler.config import ENV, ConfigError, Settings
from tests.helpers import REPO


def test_every_variable_is_in_the_readme_table():
    readme = (REPO / "README.md").read_text()
    missing = [name for name in ENV if f"| `{name}` |" not in readme]
    assert missing == []


def test_defaults(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.collection_name == "startups" and settings.qdrant_url == "" and settings.port == 8000
    assert settings.public()["qdrant_api_key"] == ""


def test_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("QDRANT_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="QDRANT_TIMEOUT"):
        Settings.from_env()


def test_secret_is_masked(monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    assert "s3cret" not in str(Settings.from_env().public())
