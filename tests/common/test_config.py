"""Configuration: README.md's table is the ENV table, every variable the shell scripts read is in
it, and bad values are clear errors naming the variable."""

from __future__ import annotations

import re

import pytest

from handler.common import ENV, ConfigError, Settings, redact_url
from tests.support.helpers import REPO, run_module


def expected_table() -> list[str]:
    return [f"| `{name}` | {f'`{default}`' if default else '*(empty)*'} | {description} |" for name, (default, description) in ENV.items()]


def test_the_readme_table_is_the_env_table():
    readme = (REPO / "README.md").read_text()
    rows = [line for line in readme.splitlines() if re.match(r"\| `[A-Z0-9_]+` \|", line)]
    expected = expected_table()
    assert rows == expected, "README's configuration table differs from `handler.common.config`'s ENV; it should read:\n" + "\n".join(expected)


def test_the_shell_scripts_read_only_variables_of_the_table():
    """main_job.sh and setup_env.sh read their variables from the environment too."""
    for script in ("scripts/main_job.sh", "scripts/setup_env.sh"):
        text = (REPO / script).read_text()
        read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)[:}-]", text))
        unknown = sorted(read - set(ENV) - {"HOME", "PYTHON"})  # HOME: the shell's; PYTHON: setup_env.sh's interpreter override
        assert unknown == [], f"{script} reads {unknown}, which `handler.common.config`'s ENV does not document"


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
        "REQUEST_TIMEOUT": f"{settings.request_timeout:g}",
        "COLLECTION_NAME": "" if settings.collection_name == settings.schema.collection else settings.collection_name,
        "SCHEMA_FILE": "" if settings.schema.source == "the built-in startups schema" else settings.schema.source,
        "QUERY_MAX_CHARS": str(settings.query_max_chars), "LOG_LEVEL": settings.log_level, "HOST": settings.host, "PORT": str(settings.port),
        "CORS_ALLOW_ORIGINS": ",".join(settings.cors_allow_origins), "DEMO_FIELD_ALIASES": "1" if settings.demo_field_aliases else "",
        "HEALTH_DETAILS": "1" if settings.health_details else "", "QDRANT_API_KEY": settings.qdrant_api_key,
        "QUERY_CACHE_SIZE": str(settings.query_cache_size), "CACHE_MAX_AGE": str(settings.cache_max_age),
        "METRICS": {"loopback": "", "anyone": "1", "off": "0"}[settings.metrics],
    }
    assert read == {name: ENV[name][0] for name in read}


@pytest.mark.parametrize("name, value, says", [
    ("QDRANT_TIMEOUT", "soon", "QDRANT_TIMEOUT"),
    ("QDRANT_COOLDOWN", "-1", "QDRANT_COOLDOWN"),
    ("PORT", "http", "PORT"),
    ("COLLECTION_NAME", "my collection", "COLLECTION_NAME"),
    ("SCHEMA_FILE", "/nowhere/schema.toml", "SCHEMA_FILE"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
    ("DEMO_FIELD_ALIASES", "yes please", "DEMO_FIELD_ALIASES"),
    ("CORS_ALLOW_ORIGINS", "app.example.com", "CORS_ALLOW_ORIGINS"),
    ("METRICS", "everyone", "METRICS"),
])
def test_a_bad_value_names_the_variable(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=says) as caught:
        Settings.from_env()
    assert caught.value.exit_code == 2


def test_secret_is_masked(monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    assert "s3cret" not in str(Settings.from_env().public())


@pytest.mark.parametrize("url, shown", [
    ("http://user:S3cret@Pass@host:6333", "http://***@host:6333"),
    ("https://admin:p@ss/w?rd@qdrant.example:6333/base", "https://***@qdrant.example:6333/base"),
    ("https://qdrant.example:6333/?api-key=abc123&timeout=5", "https://qdrant.example:6333/?api-key=***&timeout=5"),
    ("https://h/?api_key=k1&apikey=k2&key=k3&token=t&password=p&secret=s&X-Amz-Signature=z&keep=1",
     "https://h/?api_key=***&apikey=***&key=***&token=***&password=***&secret=***&X-Amz-Signature=***&keep=1"),
    ("Qdrant at http://u:S3cret@Pass@h:1/?api-key=abc is unreachable", "Qdrant at http://***@h:1/?api-key=*** is unreachable"),
    ("http://qdrant:6333", "http://qdrant:6333"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown
    for secret in ("S3cret", "Pass@", "abc123", "p@ss", "k1", "k2", "k3"):
        assert secret not in redact_url(url)


def test_a_password_holding_an_at_sign_is_accepted(monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://user:S3cret@Pass@127.0.0.1:6333")
    assert Settings.from_env().qdrant_url == "http://user:S3cret@Pass@127.0.0.1:6333"


@pytest.mark.parametrize("name, value", [
    ("QDRANT_URL", "ftp://qdrant:6333"), ("QDRANT_URL", "not-a-url"), ("QDRANT_URL", "http://:6333"), ("QDRANT_URL", "http://h:port"),
    ("LOG_LEVEL", "LOUD"), ("PORT", "99999"), ("PORT", "http"), ("CACHE_MAX_AGE", "-1"), ("HOST", ""),
])
def test_every_bad_setting_exits_2_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Settings.from_env()
    result = run_module("handler", env={name: value, "MODEL_DIR": "/nonexistent"}, timeout=60)
    assert result.returncode == 2 and name in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert "S3cret" not in result.stderr
