"""What a browser gets: the search page (handler/static/), its files, and /docs (Swagger UI from
the pinned `swagger-ui-bundle` package, served by the app itself: no CDN, works offline and on
Lambda). Every URL is relative to where the app is mounted (/Prod/ behind a REST API stage).
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from handler.responses import error_response
from handler.service import DEFAULT_MODE, MODES

STATIC = Path(__file__).resolve().parent / "static"
PAGE_FILES = {"app.js": "text/javascript; charset=utf-8", "results.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8"}


@functools.lru_cache(maxsize=None)
def _file_bytes(path: Path) -> bytes:
    """A file the app serves, read once per process (a handful of small, fixed files)."""
    return path.read_bytes()


def _docs_asset_dir() -> Path | None:
    try:  # pinned in pyproject.toml and the Lambda requirements: Swagger UI's files, no CDN
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(swagger_ui_path)


def render_page(query_max_chars: int) -> str:
    """index.html with what the server knows filled in: the modes (service.MODES, the default
    checked) and the longest query. The page's script reads them back from the form."""
    radios = "\n".join(
        f'      <label title="{html.escape(description)}"><input type="radio" name="mode" value="{mode}"{" checked" if mode == DEFAULT_MODE else ""}> '
        f"{mode.capitalize()}</label>"
        for mode, description in MODES.items()
    )
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return page.replace("<!--modes-->", radios.strip(), 1).replace("{query_max_chars}", str(query_max_chars), 1)


def add_page_routes(router: FastAPI, query_max_chars: int) -> None:
    page = render_page(query_max_chars)
    assets = _docs_asset_dir()

    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @router.get("/", include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        # <base> makes every URL of the page relative to where the app is mounted
        return HTMLResponse(page.replace('<base href="/">', f'<base href="{root(request)}/">', 1), headers={"cache-control": "no-cache"})

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in PAGE_FILES:
            return error_response(404, "not_found", "no such file")
        return Response(_file_bytes(STATIC / name), media_type=PAGE_FILES[name], headers={"cache-control": "public, max-age=300"})

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        prefix = root(request)
        return get_swagger_ui_html(
            openapi_url=f"{prefix}{router.openapi_url}", title=f"{router.title} - docs",
            swagger_js_url=f"{prefix}/docs/assets/swagger-ui-bundle.js", swagger_css_url=f"{prefix}/docs/assets/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @router.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS or assets is None or not (assets / name).is_file():
            return error_response(404, "not_found", "no such asset")
        return Response(_file_bytes(assets / name), media_type=DOCS_ASSETS[name], headers={"cache-control": "public, max-age=86400"})
