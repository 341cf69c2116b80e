"""Every environment variable the project reads, in one table: the service, the batch jobs and the
build tools. Nothing else reads `os.environ` (the layering test checks), and README.md documents
each row (the configuration test checks).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from urllib.parse import parse_qsl, urlsplit

from handler.common.errors import ConfigError
from handler.common.schema import Schema, load_schema

# name: (default, description). The first group configures the service; the rest, the tools. The
# descriptions are markdown: README.md's configuration table is this table (`tests.common.test_config`).
ENV: dict[str, tuple[str, str]] = {
    "MODEL_DIR": ("model", "export directory (`manifest.json`, `tokenizer.json`, `*.onnx` and their weights `*.onnx.data`); also the scripts' default `--model-dir`"),
    "EMBED_VARIANT": ("", "model variant the service embeds queries with (`int8`, `int8_unsigned`, `fp32`, `fp16`); empty = the manifest's CPU "
                          "default (`int8`; `int8_unsigned` on a CPU without an exact int8 dot product, said in the start-up log)"),
    "ORT_THREADS": ("0", "onnxruntime intra-op threads of long texts and batches; 0 = one per core this process may use (on Lambda: "
                         "one per 1,769 MB); a short query runs on one thread whatever this says ([docs/design.md](docs/design.md#threads))"),
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": ("", "set by Lambda (MB), read to know its cores: one vCPU per 1,769 MB (Lambda lists two CPUs "
                                             "below that), so the model runs on one thread there"),
    "QUERY_CACHE_SIZE": ("1024", "query vectors kept in memory (an LRU of the normalized query text, at most 16 MB): a repeated query skips "
                                 "the model; 0 = off (the benchmarks of the model run with 0)"),
    "QDRANT_URL": ("", "Qdrant server URL (`http(s)://host[:port]`); empty = embedded Qdrant Edge at `QDRANT_PATH`"),
    "QDRANT_API_KEY": ("", "API key for `QDRANT_URL` (prefer `QDRANT_API_KEY_PARAMETER` on Lambda)"),
    "QDRANT_API_KEY_PARAMETER": ("", "name of an SSM SecureString holding the API key, read once at start (needs boto3, present on Lambda)"),
    "QDRANT_PATH": ("qdrant_storage", "directory of the embedded Qdrant Edge collections"),
    "QDRANT_SHARD_SOURCE": ("", "embedded mode: where the collection's shard comes from when `QDRANT_PATH` lacks it, unpacked there at start: "
                                "a shard archive (the one baked into the Lambda artifact), `s3://bucket/key.zip`, or a shard directory"),
    "QDRANT_TIMEOUT": ("5", "seconds before a Qdrant server request counts as failed (503)"),
    "QDRANT_COOLDOWN": ("5", "seconds a Qdrant server that timed out or refused the connection is not asked again (requests answer 503 at once, "
                             "`/health` says `unreachable`); 0 = always ask"),
    "REQUEST_TIMEOUT": ("10", "`python -m handler`: seconds a request may wait for the model and Qdrant; work still queued then is never started (503)"),
    "SCHEMA_FILE": ("", "TOML file describing the catalogue's records: fields, types, title, the embedded text, the page's card "
                        "([docs/schema.md](docs/schema.md)); also the scripts' default `--schema`; empty = the tutorial's startups schema, built in"),
    "COLLECTION_NAME": ("", "Qdrant collection; empty = the schema's `collection` (`startups` for the built-in schema)"),
    "QUERY_MAX_CHARS": ("1000", "longest accepted `q`, in characters (longer: 422); the page's search box has the same limit"),
    "QUERY_MAX_TOKENS": ("128", "a query is embedded from at most this many tokens (its first ones, `[CLS]` and `[SEP]` included; at most the "
                                "model's 256): the cost bound of one query ([docs/api.md](docs/api.md#query-cost)); BM25 and `mode=text` still read all of `q`"),
    "LOG_LEVEL": ("INFO", "log level of the service's logger (`DEBUG`, `INFO`, `WARNING`, `ERROR`)"),
    "CORS_ALLOW_ORIGINS": ("", "browser origins allowed to call the API from other sites, comma-separated (`https://app.example.com`); empty = none; `*` = any"),
    "DEMO_FIELD_ALIASES": ("", "`1`: each result also carries the field names the tutorial's demo frontend reads "
                               "(`document`, `short_description`, `logo_url`, `homepage_url`, `uuid`)"),
    "HEALTH_DETAILS": ("", "`1`: `/health` also shows the model's files (graph and weights) and the sha256s verified at start, the backend, the collection and its "
                           "point count (for private deployments; credentials are never shown)"),
    "TIMING_DETAILS": ("", "`1`: search answers also carry their embed and search times (`took_ms` in the body, a `Server-Timing` header); "
                           "off by default: a query cache hit shows in them, so they would tell one client what another searched "
                           "(total latency still shows a hit, less sharply: `QUERY_CACHE_SIZE=0` where that matters)"),
    "CACHE_MAX_AGE": ("60", "seconds a CDN or API Gateway cache may keep an answer of `/api/search`, `/api/similar` and `/api/cities` "
                            "(`Cache-Control: public, max-age=N`); 0 = `no-store`; errors and `/health` are never stored"),
    "METRICS": ("", "`python -m handler`'s `/metrics` (Prometheus text format): empty = answered to loopback clients only; `1` = to any "
                    "client (a Prometheus scraping a container); `0` = off. On Lambda the metrics ride in the request log lines "
                    "(CloudWatch EMF) whatever this says ([docs/design.md](docs/design.md#metrics))"),
    "HOST": ("127.0.0.1", "address `python -m handler` listens on (`0.0.0.0` in a container)"),
    "PORT": ("8000", "port `python -m handler` listens on"),
    # tools
    "NEURAL_SEARCH_CACHE": ("~/.cache/neural-search", "download cache of the scripts (the tutorial's dataset)"),
    "NEURAL_SEARCH_DEBUG": ("", "`1`: command-line tools print the traceback of an unexpected error"),
    "LAMBDA_ARCH": ("x86_64", "architecture of the Lambda artifact build (`x86_64` or `arm64`)"),
    "LAMBDA_MODE": ("embedded", "storage backend the Lambda artifact carries: `embedded` (Qdrant Edge) or `server` (qdrant-client)"),
    "LAMBDA_SHARD": ("", "embedded artifact: the `QDRANT_PATH/<collection>` directory baked into it (`sam build` reads it too)"),
    "LAMBDA_VARIANTS": ("", "model variants the Lambda artifact carries, comma-separated (`int8,int8_unsigned`), the first the CPU default; "
                            "empty = what Lambda's CPUs serve: on x86_64 (AVX2, no VNNI) the manifest's `cpu_without_int8_dot`, on arm64 its `cpu`"),
    "PYTHON312": ("", "a Python 3.12 interpreter for the artifact build and local invokes; empty = looked up"),
    # scripts/main_job.sh (read by the shell script, documented here with the rest)
    "INPUT": ("", "`main_job.sh`: records to load, a file or URL; empty = `../shared/data/startups_sample.jsonl` when present, "
                  "else the tutorial's full dataset (downloaded)"),
    "VECTORS": ("vectors", "`main_job.sh`: the directory `scripts.embed` writes and `scripts.upload` reads"),
    "FORCE_EXPORT": ("", "`main_job.sh`: `1` exports the model again even when `MODEL_DIR` holds an export"),
}


# Query parameters whose values are credentials (compared without case, `-` and `_`).
SECRET_PARAMETERS = ("apikey", "key", "token", "accesstoken", "authtoken", "password", "passwd", "pwd", "secret", "signature", "sig",
                     "credential", "credentials", "auth", "authorization", "xamzsecuritytoken", "xamzsignature", "awsaccesskeyid")
_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>[^\s\"'<>]*)")
_PARAMETER = re.compile(r"(?P<name>[^=&?#/\s]+)=(?P<value>[^&#\s]*)")


def _redact_one(match: re.Match) -> str:
    rest = match["rest"]
    if "@" in rest:  # the userinfo runs to the LAST @: a password may hold an unescaped @, / or ?
        rest = "***@" + rest.rpartition("@")[2]
    if "?" in rest:
        path, _, query = rest.partition("?")
        rest = path + "?" + _PARAMETER.sub(lambda p: f"{p['name']}=***" if _is_secret(p["name"]) else p[0], query)
    return match["scheme"] + rest


def _is_secret(name: str) -> bool:
    bare = name.lower().replace("-", "").replace("_", "")
    return bare in SECRET_PARAMETERS or bare.endswith(("apikey", "token", "secret", "password"))


def redact_url(text: str) -> str:
    """Every URL in `text` without its credentials: `scheme://user:pass@host` -> `scheme://***@host`
    (the userinfo runs to the last `@` of the authority), and the values of credential-like query
    parameters (`api-key`, `api_key`, `token`, `password`, `secret`, ...) -> `***`."""
    return _URL.sub(_redact_one, text)


def env(name: str) -> str:
    """The value of a variable of the table above (its default when unset), stripped."""
    default = ENV[name][0]  # KeyError: every variable read must be in the table
    return os.environ.get(name, default).strip()


def _number(name: str, kind=int, minimum: float = 0):
    raw = env(name)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a {kind.__name__}") from None
    if value < minimum:
        raise ConfigError(f"environment variable {name}={raw!r} must be >= {minimum}")
    return value


def _port(name: str) -> int:
    port = _number(name, int, 1)
    if port > 65535:
        raise ConfigError(f"environment variable {name}={env(name)!r} is not a TCP port (1 to 65535)")
    return port


def _server_url(name: str) -> str:
    """A Qdrant server URL, or '' (embedded). Its shape only: whether it answers is not a setting's
    business (the service starts while Qdrant is down, and /health says so)."""
    value = env(name)
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (ValueError for a port that is not a number or out of range)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={redact_url(value)!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"environment variable {name}={redact_url(value)!r} is not an http(s)://host[:port] URL")
    secrets = [key for key, _ in parse_qsl(parts.query, keep_blank_values=True) if _is_secret(key)]
    if secrets:  # qdrant-client never sends a URL's query string: every call would be refused (401)
        raise ConfigError(f"environment variable {name}={redact_url(value)!r} carries a credential in its query string ({', '.join(secrets)}), "
                          "which qdrant-client never sends; put the key in QDRANT_API_KEY (or QDRANT_API_KEY_PARAMETER) and leave it out of the URL")
    return value


def _collection(name: str) -> str:
    value = env(name)
    if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", value):
        raise ConfigError(f"environment variable {name}={value!r} is not a collection name (letters, digits, _ or -)")
    return value


def _required(name: str) -> str:
    value = env(name)
    if not value:
        raise ConfigError(f"environment variable {name} is set but empty; unset it for the default ({ENV[name][0]!r})")
    return value


def _log_level(name: str) -> str:
    value = _required(name).upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"environment variable {name}={env(name)!r} is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    return value


def _flag(name: str) -> bool:
    raw = env(name).lower()
    if raw not in ("", "0", "1", "false", "true"):
        raise ConfigError(f"environment variable {name}={raw!r} must be 1 or 0")
    return raw in ("1", "true")


def _metrics(name: str) -> str:
    raw = env(name).lower()
    if raw not in ("", "0", "1"):
        raise ConfigError(f"environment variable {name}={raw!r} must be empty (loopback clients only), 1 (any client) or 0 (off)")
    return {"": "loopback", "1": "anyone", "0": "off"}[raw]


def _origins(name: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in env(name).split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ConfigError(f"environment variable {name}: {origin!r} is not an origin (scheme://host[:port], or *)")
    return origins


def _ssm_secret(name: str) -> str:
    """The decrypted value of an SSM SecureString; '' when no parameter is named."""
    if not name:
        return ""
    try:
        import boto3  # optional: only for this setting; the Lambda runtime has it, other installs need not
    except ImportError:
        raise ConfigError("QDRANT_API_KEY_PARAMETER is set but boto3 is not installed (it is on AWS Lambda)") from None
    try:
        return boto3.client("ssm").get_parameter(Name=name if name.startswith("/") else f"/{name}", WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:  # no credentials, no permission, no such parameter
        raise ConfigError(f"cannot read the Qdrant API key from SSM parameter '{name}': {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class Settings:
    model_dir: str
    embed_variant: str
    ort_threads: int
    query_cache_size: int
    qdrant_url: str
    qdrant_api_key: str
    qdrant_path: str
    qdrant_shard_source: str
    qdrant_timeout: float
    qdrant_cooldown: float
    request_timeout: float
    schema: Schema
    collection_name: str  # COLLECTION_NAME, else the schema's `collection`
    query_max_chars: int
    query_max_tokens: int
    log_level: str
    cors_allow_origins: tuple[str, ...]
    demo_field_aliases: bool
    health_details: bool
    timing_details: bool
    cache_max_age: int
    metrics: str  # who /metrics answers in `python -m handler`: loopback | anyone | off
    host: str
    port: int

    @classmethod
    def from_env(cls) -> "Settings":
        schema = load_schema(env("SCHEMA_FILE"))
        return cls(
            model_dir=env("MODEL_DIR"),
            embed_variant=env("EMBED_VARIANT"),
            ort_threads=_number("ORT_THREADS"),
            query_cache_size=_number("QUERY_CACHE_SIZE"),
            qdrant_url=_server_url("QDRANT_URL"),
            qdrant_api_key=env("QDRANT_API_KEY") or _ssm_secret(env("QDRANT_API_KEY_PARAMETER")),
            qdrant_path=env("QDRANT_PATH"),
            qdrant_shard_source=env("QDRANT_SHARD_SOURCE"),
            qdrant_timeout=_number("QDRANT_TIMEOUT", float, 0.1),
            qdrant_cooldown=_number("QDRANT_COOLDOWN", float, 0),
            request_timeout=_number("REQUEST_TIMEOUT", float, 0.1),
            schema=schema,
            collection_name=_collection("COLLECTION_NAME") or schema.collection,
            query_max_chars=_number("QUERY_MAX_CHARS", int, 1),
            query_max_tokens=_number("QUERY_MAX_TOKENS", int, 8),
            log_level=_log_level("LOG_LEVEL"),
            cors_allow_origins=_origins("CORS_ALLOW_ORIGINS"),
            demo_field_aliases=_flag("DEMO_FIELD_ALIASES"),
            health_details=_flag("HEALTH_DETAILS"),
            timing_details=_flag("TIMING_DETAILS"),
            cache_max_age=_number("CACHE_MAX_AGE", int, 0),
            metrics=_metrics("METRICS"),
            host=_required("HOST"),
            port=_port("PORT"),
        )

    def public(self) -> dict:
        """The settings without secrets, for logs."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["qdrant_api_key"] = "***" if self.qdrant_api_key else ""
        shown["schema"] = self.schema.source
        return shown
