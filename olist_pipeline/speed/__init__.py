"""Optional accelerators, behind one switch: `OLIST_SPEED=off` turns every one of them off.

Nothing here changes what a run computes or records; each accelerator only saves time (how, how much,
and which library internals it relies on: docs/performance.md). A reader following a run can ignore
this package: with the switch off every function below is a no-op or does the plain thing.

| accelerator                  | where                    | what it does                                        |
|------------------------------|--------------------------|-----------------------------------------------------|
| resident runner              | speed/resident.py        | `python -m olist_pipeline` forked from a process that has the libraries imported (opt-in: `make resident-up`) |
| GC policy                    | speed/resident.py        | no cyclic collections while a run's long-lived heap is built, then `gc.freeze` |
| fast exit                    | speed/resident.py        | end the process without the interpreter's object-by-object teardown |
| package-index memo           | speed/resident.py        | `importlib.metadata.packages_distributions()` computed once per process |
| parse-ahead                  | domain/data/io.py (kept bytes) via runs.common | parse the input in a thread while the process imports |
| store templates              | speed/store_templates.py | a new home's ZenML/MLflow stores start as copies of pre-migrated ones |
| in-memory table hand-off     | stack/materializers.py   | a later step of the same process takes a table from memory, not Parquet |

Only this facade is imported by the other layers; it imports nothing but the standard library at
module level, so `python -m olist_pipeline --help` pays nothing for it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

#: The one switch. Unset, or anything but off/0/false/no: accelerators on.
SWITCH = "OLIST_SPEED"


def enabled() -> bool:
    """Are the accelerators on? (`OLIST_SPEED=off` turns them all off.)"""
    return os.environ.get(SWITCH, "on").strip().lower() not in ("0", "off", "false", "no")


def run_program(main: Callable[[], Any], argv: list[str]) -> None:
    """`python -m olist_pipeline`: run `main` in the resident runner when one is up, else in this
    process with the collector held until the run's stack exists, ending without the interpreter's
    teardown. Switched off: `main()` as a plain program."""
    import sys

    if not enabled():
        main()
        return
    from olist_pipeline.speed import resident

    resident.hold_gc()  # until the run's long-lived objects exist (settle_gc)
    if resident.IN_CHILD:  # a runner's child: the runner ends it the same way
        main()
        return
    code = resident.try_run(argv)
    if code is not None:
        sys.exit(code)
    resident.exit_without_teardown(main)


def settle_gc() -> None:
    """The run's imports, stores and stack exist: let the collector work again (after freezing that heap)."""
    if enabled():
        from olist_pipeline.speed import resident

        resident.settle_gc()


def memoize_package_index() -> None:
    """`importlib.metadata.packages_distributions()` answered once per process."""
    if enabled():
        from olist_pipeline.speed import resident

        resident.memoize_package_index()


@contextlib.contextmanager
def opening_local_zenml_store() -> Iterator[None]:
    """Around the first opening of a local ZenML store: a new home starts as a copy of the store
    template; a store at this ZenML's revision is opened without the migration check."""
    if not enabled():
        yield
        return
    from olist_pipeline.speed import store_templates

    store = store_templates.local_zenml_store()
    if store is None:
        yield
        return
    store_templates.seed_zenml_home(store)
    with store_templates.skip_migration_check_if_current(store):
        yield


def seed_mlflow_store(tracking_uri: str) -> None:
    """A new local MLflow store starts as a copy of the store template."""
    if enabled():
        from olist_pipeline.speed import store_templates

        store_templates.seed_mlflow_store(tracking_uri)


def keep_input_bytes(budget: int) -> int:
    """How many bytes of the input a run may keep in memory for its ingest step (and parse ahead)."""
    return budget if enabled() else 0


def handoff_bytes(budget: int) -> int:
    """How many bytes of tables a later step of the same process may take from memory."""
    return budget if enabled() else 0


def preload_for_jobs(project_modules: tuple[str, ...], leave_out: tuple[str, ...] = ()) -> None:
    """In a sweep's process, before its jobs are forked (hydra/launcher=olist_fork): import the libraries
    and `project_modules` a job imports and fill the per-process caches once for all jobs."""
    if enabled():
        from olist_pipeline.speed import resident

        modules = tuple(m for m in resident.WARM_MODULES + project_modules if m not in leave_out)
        resident.preload(modules, flavors=False)
