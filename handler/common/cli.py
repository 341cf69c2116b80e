"""What every command-line entry point shares: one way to talk, one way to fail.

    @cli(interrupted="nothing was written")
    def main(argv=None) -> int: ...

A `NeuralSearchError` becomes one `error: ...` line on stderr and its exit status; anything
else is a bug: one line naming it (the traceback with NEURAL_SEARCH_DEBUG=1), exit status 1.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

from handler.common.config import env
from handler.common.errors import NeuralSearchError

EXIT_INTERRUPTED = 130


def say(message: str) -> None:
    """Progress and diagnostics go to stderr; results go to stdout."""
    print(message, file=sys.stderr, flush=True)


def cli(interrupted: str | None = None) -> Callable:
    """Decorate a `main(argv) -> int`; `interrupted` says what Ctrl-C leaves behind."""

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except NeuralSearchError as exc:
                say(f"error: {exc}")
                return exc.exit_code
            except KeyboardInterrupt:
                say(f"interrupted: {interrupted}" if interrupted else "interrupted")
                return EXIT_INTERRUPTED
            except Exception as exc:
                if env("NEURAL_SEARCH_DEBUG"):
                    raise
                say(f"error: unexpected {type(exc).__name__}: {exc} (set NEURAL_SEARCH_DEBUG=1 for the traceback)")
                return 1

        return wrapped

    return decorate
