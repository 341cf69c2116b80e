"""`python -m handler`: serve the search API on HOST:PORT, like the tutorial's `python service.py`."""

from __future__ import annotations

import sys

from handler.cli import cli, say


@cli()
def main(argv: list[str] | None = None) -> int:
    from handler.api import create_app
    from handler.config import Settings

    settings = Settings.from_env()
    app = create_app(settings)
    import uvicorn

    say(f"serving on http://{settings.host}:{settings.port} (search: /api/search?q=..., docs: /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
