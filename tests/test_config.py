"""Configuration: README.md's table is the ENV table, every variable the shell scripts read is in
it, and bad values are clear errors naming the variable."""

from __future__ import annotations

import re

import pytest

from handler.config import ENV, ConfigError, Settings
from tests.helpers import REPO


def expected_table() -> list[str]:
    return [f"| `{name}` | {f'`{default}`' if default else '*(empty)*'} | {description} |" for name, (default, description) in ENV.items()]


def test_the_readme_table_is_the_env_table():
    readme = (REPO / "README.md").read_text()
    rows = [line for line in readme.splitlines() if re.match(r"\| `[A-Z0-9_]+` \|", line)]
    expected = expected_table()
    assert rows == expected, "README's configuration table differs from handler/config.py's ENV; it should read:\n" + "\n".join(expected)


def test_the_shell_scripts_read_only_variables_of_the_table():
    """main_job.sh and setup_env.sh read their variables from the environment too."""
    for script in ("scripts/main_job.sh", "scripts/setup_env.sh"):
        text = (REPO / script).read_text()
        read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)[:}-]", text))
        unknown = sorted(read - set(ENV) - {"HOME", "PYTHON"})  # HOME: the shell's; PYTHON: setup_env.sh's interpreter override
        assert unknown == [], f"{script} reads {unknown}, which handler/config.py's ENV does not document"


def test_unset_variables_take_the_tables_defaults(monkeypatch):
    """Each setting's value when its variable is unset is what ENV says, for every variable the
    service reads (no second default hidden in the code)."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    read = {
        "MODEL_DIR": settings.model_dir, "EMBED_VARIANT": settings.embed_variant, "ORT_THREADS": str(settings.ort_threads),
        "QDRANT_URL": settings.qdrant_url, "QDRANT_PATH": settings.qdrant_path, "QDRANT_SHARD_SOURCE": settings.qdrant_shard_source,
        "QDRANT_TIMEOUT": f"{settings.qdrant_timeout:g}", "QDRANT_COOLDOWN": f"{settings.qdrant_cooldown:g}",
        "REQUEST_TIMEOUT": f"{settings.request_timeout:g}", "COLLECTION_NAME": settings.collection_name,
        "QUERY_MAX_CHARS": str(settings.query_max_chars), "LOG_LEVEL": settings.log_level, "HOST": settings.host, "PORT": str(settings.port),
        "CORS_ALLOW_ORIGINS": ",".join(settings.cors_allow_origins), "DEMO_FIELD_ALIASES": "1" if settings.demo_field_aliases else "",
        "HEALTH_DETAILS": "1" if settings.health_details else "", "QDRANT_API_KEY": settings.qdrant_api_key,
        "QUERY_CACHE_SIZE": str(settings.query_cache_size), "CACHE_MAX_AGE": str(settings.cache_max_age),
    }
    assert read == {name: ENV[name][0] for name in read}


@pytest.mark.parametrize("name, value, says", [
    ("QDRANT_TIMEOUT", "soon", "QDRANT_TIMEOUT"),
    ("QDRANT_COOLDOWN", "-1", "QDRANT_COOLDOWN"),
    ("PORT", "http", "PORT"),
    ("COLLECTION_NAME", "", "COLLECTION_NAME"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
    ("DEMO_FIELD_ALIASES", "yes please", "DEMO_FIELD_ALIASES"),
    ("CORS_ALLOW_ORIGINS", "app.example.com", "CORS_ALLOW_ORIGINS"),
])
def test_a_bad_value_names_the_variable(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=says) as caught:
        Settings.from_env()
    assert caught.value.exit_code == 2


def test_secret_is_masked(monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    assert "s3cret" not in str(Settings.from_env().public())
