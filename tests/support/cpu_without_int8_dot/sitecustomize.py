"""Run anything as on an x86 CPU without AVX512-VNNI or AVX-VNNI (no exact int8 dot product), on a
machine that has one: put this directory first on PYTHONPATH, and every Python process started
with that environment (subprocesses included) imports this file at start-up.

    export PYTHONPATH=$PWD/tests/support/cpu_without_int8_dot:$PWD
    python -m export --out /tmp/model-noint8          # int8 left out, defaults.cpu = int8_unsigned
    TEST_MODEL_DIR=/tmp/model-noint8 python -m pytest tests/jobs/test_export.py tests/model/test_encoder.py ...

handler.model.cpu.missing then reads /proc/cpuinfo with those two flags removed; calls that name
their own machine or cpuinfo (the unit tests of that function) are left alone. Only what
handler.model.cpu decides changes: onnxruntime still runs this CPU's kernels, so figures measured
under it are this machine's. The export, the encoder's fallback and the tests' expectations
(`int8_dot_here` in tests.support.helpers) all ask handler.model.cpu, so they all see the
simulated CPU.
"""

import re
from pathlib import Path

import handler.model.cpu as _cpu

_real_missing = _cpu.missing


def _missing(requirement, *, machine=None, cpuinfo=None):
    if machine is None and cpuinfo is None:
        cpuinfo = re.sub(r"\b(avx512_vnni|avx_vnni)\b", "", Path("/proc/cpuinfo").read_text())
    return _real_missing(requirement, machine=machine, cpuinfo=cpuinfo)


_cpu.missing = _missing
import handler.model as _model  # noqa: E402  (the face re-exports it: patched there too)

_model.missing = _missing
