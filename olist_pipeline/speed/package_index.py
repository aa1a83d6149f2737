"""`packages_distributions()` computed once per process and shared by both metadata modules.

ZenML resolves the distribution of every output artifact's type (stdlib `importlib.metadata`) and MLflow
checks a logged model's requirements (the `importlib_metadata` backport) by calling
`packages_distributions()`, which re-reads the file list of every installed distribution on each call
(0.2-0.5 s in this venv). The installed set does not change during a run (a resident runner stops once it
does), so one reading serves every call. The backport's answer differs from the stdlib's only by a
`__pycache__` key that no import name can match, so it is served from the same reading, as a fresh copy
per call (MLflow adds entries to the dict it receives). Worth upstreaming to ZenML's
`source_utils._get_package_for_module`. Standard library (and the backport) only: the resident runner
imports it to fill the memo once for all its children.
"""

from __future__ import annotations


def memoize() -> None:
    """Replace both modules' `packages_distributions` by the memo (once; later calls do nothing)."""
    import functools
    import importlib.metadata

    import importlib_metadata

    if hasattr(importlib.metadata.packages_distributions, "cache_info"):
        return
    index = functools.cache(importlib.metadata.packages_distributions)

    def shared_index() -> dict[str, list[str]]:
        return {name: list(distributions) for name, distributions in index().items()}

    shared_index.cache_info = index.cache_info  # type: ignore[attr-defined]
    importlib.metadata.packages_distributions = index
    importlib_metadata.packages_distributions = shared_index


def fill() -> None:
    """Memoize and read the index now (a process that forks runs pays it once for all of them)."""
    import importlib.metadata

    import importlib_metadata

    memoize()
    importlib.metadata.packages_distributions()
    importlib_metadata.packages_distributions()
