"""When a run's process lets the cyclic garbage collector work: not while its long-lived heap is built.

A run's process grows from nothing to ~700k objects while it imports ZenML, MLflow, scikit-learn and
pandas and sets up its stores, and CPython runs a full collection each time the heap has grown by a
quarter: ten of them, each walking every object, 1.6 s of a run on the sample (gc.callbacks), collecting a
few thousand objects in all. Nearly everything created then lives until the process ends, so the
collector is held off while it is created (`hold_gc`) and then told to leave it alone (`settle_gc`), the
pattern CPython documents for `gc.freeze`. A resident runner's child is held and settled the same way:
the runner froze its imports before forking it, the child's own stores and stack are frozen at settling.
Standard library only.
"""

from __future__ import annotations

import gc

_held = False


def hold_gc() -> None:
    """No cyclic collection until `settle_gc`. A process that never settles (one that fails early, an
    identical re-run answered from its record) ends without collecting, as it would at exit anyway; the
    few thousand objects of cyclic garbage made meanwhile are frozen with the rest (peak RSS came out
    lower, not higher: BENCHMARKS.md)."""
    global _held
    gc.disable()
    _held = True


def settle_gc() -> None:
    """The long-lived part of the heap exists (imports, stores, stack): freeze it, so that later
    collections walk only what is created after, and collect again. Does nothing unless `hold_gc` held
    the collector, so library use and the test suite keep Python's defaults."""
    global _held
    if not _held:
        return
    _held = False
    gc.freeze()
    gc.enable()
