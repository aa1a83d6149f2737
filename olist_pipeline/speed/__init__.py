"""Optional accelerators, behind one switch: `OLIST_SPEED=off` turns every one of them off.

Nothing here changes what a run computes or records; each accelerator only saves time (how, how much,
and which library internals it relies on: docs/performance.md). A reader following a run can ignore
this package: with the switch off every function below is a no-op or does the plain thing.

| accelerator                  | where                    | what it does                                        |
|------------------------------|--------------------------|-----------------------------------------------------|
| resident runner              | speed/resident.py        | `python -m olist_pipeline` forked from a process that has the libraries imported (opt-in: `make resident-up`) |
| GC policy                    | speed/gc_policy.py       | no cyclic collections while a run's long-lived heap is built, then `gc.freeze` |
| fast exit                    | speed/process.py         | end the process without the interpreter's object-by-object teardown |
| package-index memo           | speed/package_index.py   | `importlib.metadata.packages_distributions()` computed once per process |
| parse-ahead                  | speed/parse_ahead.py     | the fingerprint keeps the input's bytes; parse them in a thread while the process imports; ingest takes the table |
| store templates              | speed/store_templates.py | a new home's ZenML/MLflow stores start as copies of pre-migrated ones |
| in-memory table hand-off     | stack/materializers.py   | a later step of the same process takes a table from memory, not Parquet |

Only this facade is imported by the other layers; it imports nothing but the standard library at
module level, so `python -m olist_pipeline --help` pays nothing for it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
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
    from olist_pipeline.speed import gc_policy, process, resident

    gc_policy.hold_gc()  # until the run's long-lived objects exist (settle_gc)
    if resident.IN_CHILD:  # a runner's child: the runner ends it the same way
        main()
        return
    code = resident.try_run(argv)
    if code is not None:
        sys.exit(code)
    process.exit_without_teardown(main)


def settle_gc() -> None:
    """The run's imports, stores and stack exist: let the collector work again (after freezing that heap)."""
    if enabled():
        from olist_pipeline.speed import gc_policy

        gc_policy.settle_gc()


def memoize_package_index() -> None:
    """`importlib.metadata.packages_distributions()` answered once per process."""
    if enabled():
        from olist_pipeline.speed import package_index

        package_index.memoize()


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


def fingerprint_keeping(fmt: str, path: Path, budget: int) -> str | None:
    """The input's sha256, its files that fit in `budget` bytes read whole and kept for this process's
    ingest step (`start_parse`, `take_loaded`); replaces what an earlier fingerprint kept. None when
    switched off or without a budget: the caller fingerprints plainly, and nothing is kept."""
    if not enabled():
        return None
    from olist_pipeline.speed import parse_ahead

    return parse_ahead.fingerprint_keeping(fmt, path, budget)


def start_parse(fmt: str, path: Path) -> bool:
    """Load the kept input in a background thread, to overlap the imports and stack set-up that follow.
    False if nothing was started (switched off, nothing kept, or a format not parsed ahead)."""
    if not enabled():
        return False
    from olist_pipeline.speed import parse_ahead

    return parse_ahead.start(fmt, path)


def take_loaded(fmt: str, path: Path, expected_sha256: str | None) -> tuple[Any, str, dict[str, Any]] | None:
    """What the domain loader returns (table, sha256, details) for the input, loaded from the bytes the
    run's fingerprint kept if they are `expected_sha256`. None when switched off or nothing is kept:
    the caller loads the file itself."""
    if not enabled():
        return None
    from olist_pipeline.speed import parse_ahead

    return parse_ahead.take(fmt, path, expected_sha256)
