"""The project's one error base: every error a user can cause or fix carries its exit status.

Command-line entry points turn these into one `error: ...` line and that status
(`handler.cli.run`); the web service turns the storage ones into 503 bodies.
"""

from __future__ import annotations


class NeuralSearchError(Exception):
    """Base class. `exit_code` is the status a command-line tool exits with."""

    exit_code = 1


class UsageError(NeuralSearchError, ValueError):
    """Bad arguments, input or environment: the user can fix it; exit status 2."""

    exit_code = 2
