"""Do this CPU's kernels give the vectors the export's gate measured? A known vector, checked at start.

`handler.model.cpu` decides from /proc/cpuinfo; onnxruntime's kernels follow what the `cpuid`
instruction reports. They agree on real hardware, but not everywhere: under user-mode QEMU
(`-cpu Haswell`) /proc/cpuinfo is the host's (VNNI) while `cpuid` says AVX2, so `int8` was chosen
and ran on the int16-saturating kernel. So the export stores, for each variant, the vector of one
fixed text (`KNOWN_TEXT`) as its exact kernels computed it (manifest: `known_vector`), and the
encoder embeds that text once at start with the variant it chose (this is also the session's
warm-up run): a vector further than `known_vector_floor` from the stored one means other
arithmetic than the gated one, and the encoder falls back (or, for a variant named explicitly,
refuses). int8 on a saturating kernel moves it by ~1e-3 (docs/lambda.md#lambdas-cpus-emulated).
"""

from __future__ import annotations

import numpy as np

# Long and varied enough that int16 saturation shows (measured under emulated Haswell: docs/lambda.md).
KNOWN_TEXT = ("Serverless neural search: a startup in Berlin builds an AI platform that matches "
              "freelance designers, hospitals and vegan restaurants with 3D-printed drones, 24/7.")
# A variant whose arithmetic needs a CPU feature (manifest "requires": int8's exact integer sums)
# must reproduce its vector to float rounding: its int16-saturating kernel moves real text by 5e-4
# to 1.4e-3 (measured: AVX2 against emulated Graviton2). Other variants' kernels differ by
# architecture within their gate (int8_blocks, x86 AVX2 against Graviton2: 3e-5 to 1e-4 on real
# text, 4.7e-4 on one character): checked only for a gross fault.
KNOWN_VECTOR_MIN_COSINE = 0.9999
KNOWN_VECTOR_MIN_COSINE_ANY = 0.999
KNOWN_VECTOR = "known_vector"  # the manifest field of each variant: the vector as a list of floats


def known_vector(vector: np.ndarray) -> list[float]:
    """What the export stores: float32 values, rounded to 7 significant digits (exact enough for the check, short in JSON)."""
    return [float(f"{value:.7g}") for value in np.asarray(vector, dtype=np.float32)]


def known_vector_cosine(entry: dict, vector: np.ndarray) -> float | None:
    """Cosine between a freshly computed KNOWN_TEXT vector and the one the manifest entry stores;
    None when the entry has none (an export made before this check)."""
    stored = entry.get(KNOWN_VECTOR)
    if not stored:
        return None
    stored = np.asarray(stored, dtype=np.float32)
    vector = np.asarray(vector, dtype=np.float32)
    if stored.shape != vector.shape:
        return float("nan")
    norms = float(np.linalg.norm(stored) * np.linalg.norm(vector))
    return float(np.dot(stored, vector) / norms) if norms > 0 else float("nan")


def known_vector_floor(entry: dict) -> float:
    """The cosine a variant's KNOWN_TEXT vector must reach here (see KNOWN_VECTOR_MIN_COSINE)."""
    return KNOWN_VECTOR_MIN_COSINE if entry.get("requires") else KNOWN_VECTOR_MIN_COSINE_ANY
