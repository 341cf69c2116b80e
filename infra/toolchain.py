"""The one lookup of a Python 3.12 (the Lambda runtime's Python), for the artifact build's
byte-compilation, the local invoke's runtime venv and scripts/setup_env.sh.

    python3 infra/toolchain.py    # prints the interpreter's path, or exits 1 saying what to set

Stdlib only: setup_env.sh runs it before any virtual environment exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the handler package is beside this folder
from handler.common import UsageError, cli, env  # noqa: E402  (the common wing is stdlib-only)

RUNTIME_VENV = ROOT / ".venv312"  # Python 3.12 holding only awslambdaric (made by setup_env.sh)
ARTIFACT_DIR = ROOT / "infra" / "build" / "lambda"  # where `make artifact` builds and `make invoke` runs it
VERSION = (3, 12)


def _is_312(candidate: str) -> bool:
    try:
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return probe.returncode == 0 and probe.stdout.strip() == str(VERSION)


def find_python312() -> str | None:
    """$PYTHON312, the runtime venv, pyenv's 3.12 builds, then python3.12 on PATH."""
    explicit = env("PYTHON312")
    if explicit:
        if not _is_312(explicit):
            raise UsageError(f"PYTHON312={explicit} is not a Python 3.12 interpreter")
        return explicit
    pyenv_root = Path(shutil.which("pyenv") or "~/.pyenv/bin/pyenv").expanduser().resolve().parents[1]
    candidates = [
        str(RUNTIME_VENV / "bin" / "python"),
        *map(str, sorted((pyenv_root / "versions").glob("3.12*/bin/python3.12"), reverse=True)),
        shutil.which("python3.12"),
    ]
    return next((c for c in candidates if c and Path(c).exists() and _is_312(c)), None)


@cli()
def main() -> int:
    found = find_python312()
    if not found:
        raise UsageError("no Python 3.12 found: set PYTHON312=/path/to/python3.12")
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
