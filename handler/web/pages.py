"""What a browser gets: the search page (the `static/` folder beside this module), its files, and /docs (Swagger UI 5, which
renders OpenAPI 3.1, from the pinned `swagger-ui-bundle-v2` package, served by the app itself: no
CDN, works offline and on Lambda). Every URL is relative to where the app is mounted (/Prod/
behind a REST API stage).

Both pages carry a Content-Security-Policy that lets them run only their own files (no inline
script: Swagger UI's start-up is `static/docs.js`) and that no other site may frame them.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from handler.search import DEFAULT_MODE, MODES
from handler.web.responses import error_response
from handler.web.routes import MAX_OFFSET

STATIC = Path(__file__).resolve().parent / "static"
PAGE_FILES = {"app.js": "text/javascript; charset=utf-8", "results.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
              "docs.js": "text/javascript; charset=utf-8"}
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8"}
# The page's own script, styles and API; the records' images (logos) are on their own sites (https).
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI: its bundle, its start-up file and the app's openapi.json; its icons are data: URIs.
DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
<link rel="icon" href="data:,">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{root}{openapi}"></div>
<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{root}/static/docs.js"></script>
</body>
</html>
"""


def html_headers(csp: str) -> dict:
    return {"cache-control": "no-cache", "content-security-policy": csp, "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


@functools.lru_cache(maxsize=None)
def _file_bytes(path: Path) -> bytes:
    """A file the app serves, read once per process (a handful of small, fixed files)."""
    return path.read_bytes()


def _docs_asset_dir() -> Path | None:
    try:  # deferred: only /docs needs it; pinned in pyproject.toml and the Lambda requirements (Swagger UI's files, no CDN)
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(swagger_ui_path)


def render_page(settings) -> str:
    """index.html with what the server knows filled in: the schema's heading, words, examples and
    filters (a list per keyword field, filled from its facet by the page; a min/max pair per number),
    the modes (`MODES`, the default checked) and the longest query. The page's script reads the
    schema back from the form's data-schema attribute (JSON, escaped: never code)."""
    schema = settings.schema
    described = schema.describe()
    display = described["display"]
    radios = "\n".join(
        f'      <label title="{html.escape(description)}"><input type="radio" name="mode" value="{mode}"{" checked" if mode == DEFAULT_MODE else ""}> '
        f"{mode.capitalize()}</label>"
        for mode, description in MODES.items()
    )
    controls = []
    for name in schema.keywords:
        label = html.escape(_label(name))
        controls.append(f'      <div class="field filter"><label for="f-{name}">{label}</label>\n'
                        f'        <select id="f-{name}" name="{name}" data-keyword="{name}"><option value="">Any {html.escape(_label(name).lower())}</option></select></div>')
    for name, kind in schema.ranges.items():
        label, step = html.escape(_label(name)), "1" if kind == "integer" else "any"
        controls.append(f'      <fieldset class="field filter range"><legend>{label}</legend>\n'
                        f'        <label class="visually-hidden" for="f-{name}_min">{label} from</label>'
                        f'<input id="f-{name}_min" name="{name}_min" type="number" step="{step}" inputmode="decimal" placeholder="from" data-range="{name}">\n'
                        f'        <label class="visually-hidden" for="f-{name}_max">{label} to</label>'
                        f'<input id="f-{name}_max" name="{name}_max" type="number" step="{step}" inputmode="decimal" placeholder="to" data-range="{name}"></fieldset>')
    examples = "\n".join(f'    <button type="button" class="example">{html.escape(example)}</button>' for example in display["examples"])
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    filled = {
        "{heading}": html.escape(display["heading"]),
        "{tagline}": html.escape(display["tagline"]),
        "{placeholder}": html.escape(display["placeholder"] or f"Search {schema.collection}"),
        "{search_label}": html.escape(f"Search {schema.collection}"),
        "{query_max_chars}": str(settings.query_max_chars),
        "{max_offset}": str(MAX_OFFSET),
        "{schema_json}": html.escape(json.dumps(described, ensure_ascii=False)),
        "<!--modes-->": radios.strip(),
        "<!--filters-->": "\n".join(controls).strip(),
        "<!--examples-->": examples.strip(),
    }
    for mark, value in filled.items():
        page = page.replace(mark, value)
    return page


def _label(field: str) -> str:
    """A field's name as a person reads it: downloads_rank -> Downloads rank."""
    return field.replace("_", " ").strip().capitalize()


def add_page_routes(router: FastAPI, settings) -> None:
    page = render_page(settings)
    assets = _docs_asset_dir()
    page_headers, docs_headers = html_headers(PAGE_CSP), html_headers(DOCS_CSP)

    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @router.get("/", include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        # <base> makes every URL of the page relative to where the app is mounted
        return HTMLResponse(page.replace('<base href="/">', f'<base href="{html.escape(root(request))}/">', 1), headers=page_headers)

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in PAGE_FILES:
            return error_response(404, "not_found", "no such file")
        return Response(_file_bytes(STATIC / name), media_type=PAGE_FILES[name], headers={"cache-control": "public, max-age=300"})

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        body = DOCS_HTML.format(title=html.escape(f"{router.title} - docs"), root=html.escape(root(request)), openapi=html.escape(router.openapi_url))
        return HTMLResponse(body, headers=docs_headers)

    @router.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS or assets is None or not (assets / name).is_file():
            return error_response(404, "not_found", "no such asset")
        return Response(_file_bytes(assets / name), media_type=DOCS_ASSETS[name], headers={"cache-control": "public, max-age=86400"})
