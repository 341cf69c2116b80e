"""`python -m handler`: serve the search API on HOST:PORT (default 0.0.0.0:8000), like the tutorial's `python service.py`."""

from __future__ import annotations

import sys


def main() -> int:
    from handler.config import ConfigError, Settings
    from handler.service import StartupError

    try:
        settings = Settings.from_env()
        from handler.app import create_app

        app = create_app(settings)
    except (ConfigError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    print(f"serving on http://{settings.host}:{settings.port} (search: /api/search?q=..., docs: /docs)", file=sys.stderr)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
