"""The query sets each catalogue is evaluated on, by its schema's collection (`scripts.eval_modes`,
`scripts.calibrate_weak`): one module per catalogue, each a set of plain lists (see each module)."""

from __future__ import annotations

from types import ModuleType

from scripts.query_sets import packages, startups

SETS: dict[str, ModuleType] = {"startups": startups, "packages": packages}
WEAK_SETS = ("REAL", "TYPO", "NONSENSE", "OFF_TOPIC")  # each also as HELD_OUT_<name>


def for_collection(name: str) -> ModuleType | None:
    """The query sets of the catalogue whose schema names this collection; None for one without."""
    return SETS.get(name)
