"""Run callables in processes forked from this one, a few at a time: the engine of the `olist_fork`
sweep launcher (hydra_plugins/olist_launcher).

Why fork: by the time a sweep's jobs start, its driver has imported ZenML, MLflow, scikit-learn, pandas...
and set the stores up once (olist_pipeline.app.sweep). A job forked from it starts there, sharing those pages
copy-on-write; a joblib/loky worker is a new interpreter that spends ~5 s importing them again, which is
why 2 joblib workers are slower than 1 process on a small sweep (BENCHMARKS.md).

What keeps a forked job as safe as a job in a process of its own:
- the caller must be single-threaded (`ForkUnsafe` otherwise, naming the threads): a fork copies only the
  calling thread, and a lock another thread held would stay locked in the child (idle helper threads
  that restart on demand, tqdm's monitor, are stopped first);
- in the child, SQLAlchemy connection pools inherited from the parent (ZenML's and MLflow's SQL stores)
  are dropped without closing their connections (`Engine.dispose(close=False)`, SQLAlchemy's documented
  recipe for os.fork), and `requests` sessions (their REST clients on the server stack) drop their
  keep-alive sockets, so each child opens its own connections and never uses the parent's;
- the child's thread pools (OpenMP, BLAS) are limited to `inner_threads` (threadpoolctl), as joblib does
  for its workers, so two jobs do not each start a thread per core;
- a child is sent SIGTERM if the parent dies (PR_SET_PDEATHSIG), and the parent terminates its children
  when it is interrupted, so no job outlives its sweep;
- a child ends as a process would (`speed.process.run_main`: threads joined, atexit handlers run, streams
  flushed) and hands its result back pickled in a file it renames into place when complete; a child that
  dies without one (killed, out of memory) is reported as a failure naming its exit status.

Besides the standard library: threadpoolctl (installed with scikit-learn) in a child given `inner_threads`,
and SQLAlchemy and requests only when the caller has already imported them.
"""

from __future__ import annotations

import gc
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olist_pipeline.speed.gc_policy import settle_gc
from olist_pipeline.speed.process import run_main

POLL_SECONDS = 0.02
TERMINATE_GRACE_SECONDS = 10.0


class ForkUnsafe(RuntimeError):
    """This process cannot fork safely (it runs other threads)."""


@dataclass
class Outcome:
    """What one forked task gave back: its return value, or `error` when it ended without one."""

    value: Any = None
    error: str | None = None
    exit_code: int = 0


def check_fork_safe() -> None:
    """Raise `ForkUnsafe` when threads other than the calling one are alive."""
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        raise ForkUnsafe(f"{len(others)} other thread(s) running ({', '.join(others[:5])})")


def _stop_idle_helper_threads() -> None:
    """Stop helper threads known to be idle and restarted on demand, so that they do not prevent a fork:
    tqdm's monitor (started by a progress bar a library left open; the next bar starts a new one)."""
    tqdm_std = sys.modules.get("tqdm.std")
    if tqdm_std is None:
        return
    classes, seen = [tqdm_std.tqdm], []
    while classes:  # every tqdm class keeps its own monitor (`cls.monitor = TMonitor(...)`)
        cls = classes.pop()
        seen.append(cls)
        classes.extend(sub for sub in cls.__subclasses__() if sub not in seen)
    for cls in seen:
        monitor = cls.__dict__.get("monitor")
        if monitor is not None:
            monitor.exit()  # sets its stop event and joins it
            cls.monitor = None


def run_forked(tasks: Sequence[Callable[[], Any]], n_jobs: int, inner_threads: int | None = None) -> list[Outcome]:
    """Run each task in a child forked from this process, at most `n_jobs` at once; outcomes in task order.

    A task that raises is the task's business (its exception is printed and the outcome has `error`);
    the return value must be picklable.
    """
    _stop_idle_helper_threads()
    check_fork_safe()
    settle_gc()  # (the sweep's callback has settled it already, unless it is turned off)
    n_jobs = max(1, int(n_jobs))
    results: list[Outcome | None] = [None] * len(tasks)
    workdir = Path(tempfile.mkdtemp(prefix="olist_forkpool_"))
    running: dict[int, int] = {}  # pid -> task index
    pending = list(range(len(tasks)))
    connections = _connection_owners()
    frozen_before = gc.get_freeze_count()  # a resident runner's child starts with the runner's heap frozen
    gc.freeze()  # the heap so far is shared with the children: keep the collector off its pages
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                index = pending.pop(0)
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()  # or the child would write the parent's buffered output again
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child, which never returns from here
                    _child(tasks[index], workdir / f"{index}.pickle", inner_threads, connections)
                running[pid] = index
            for pid, index in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    del running[pid]
                    results[index] = _collect(workdir / f"{index}.pickle", os.waitstatus_to_exitcode(status))
            if running:
                time.sleep(POLL_SECONDS)
    except BaseException:
        terminate(running)
        raise
    finally:
        if not frozen_before:  # (unfreeze would also thaw what was frozen before: then leave it all frozen)
            gc.unfreeze()
        shutil.rmtree(workdir, ignore_errors=True)
    return [r if r is not None else Outcome(error="never started", exit_code=1) for r in results]


def terminate(running: dict[int, int], grace: float = TERMINATE_GRACE_SECONDS) -> None:
    """SIGTERM the children, wait up to `grace` seconds for them, SIGKILL the rest; reap them all."""
    for pid in running:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    remaining = set(running)
    while remaining and time.monotonic() < deadline:
        remaining = {pid for pid in remaining if not _reaped(pid)}
        if remaining:
            time.sleep(POLL_SECONDS)
    for pid in remaining:
        _kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _collect(path: Path, exit_code: int) -> Outcome:
    if path.exists():
        try:
            outcome = pickle.loads(path.read_bytes())
            outcome.exit_code = exit_code
            return outcome
        except Exception as exc:  # noqa: BLE001 - an unreadable result is a failed task, named
            return Outcome(error=f"its result could not be read: {exc}", exit_code=exit_code or 1)
    if exit_code < 0:
        how = f"was killed by {signal.Signals(-exit_code).name}"
    else:
        how = f"exited with code {exit_code}"
    return Outcome(error=f"the job's process {how} before it returned a result", exit_code=exit_code or 1)


def _child(task: Callable[[], Any], result_path: Path, inner_threads: int | None, connections: list[Any]) -> None:  # pragma: no cover
    """In the forked child: run the task, write its outcome, end as a process ends."""

    def main() -> None:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise_interrupt)  # the parent terminating us: unwind as Ctrl-C would
        _open_own_connections(connections)
        if inner_threads:  # for the rest of this process's life
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=inner_threads)
        value = task()
        try:
            payload = pickle.dumps(Outcome(value=value))
        except Exception as exc:  # noqa: BLE001 - the task ran; only its result cannot travel
            payload = pickle.dumps(Outcome(error=f"its result could not be pickled: {exc}"))
        partial = result_path.with_suffix(".partial")
        partial.write_bytes(payload)
        os.replace(partial, result_path)

    code = 1
    try:
        code = run_main(main)
    finally:
        os._exit(code)


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the parent dies (no orphaned jobs after a killed sweep)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died between fork and prctl
        os._exit(1)


def _connection_owners() -> list[Any]:
    """The SQLAlchemy engines (ZenML's and MLflow's SQL stores) and `requests` sessions (their REST
    clients on the server stack) alive in this process: what holds pooled connections a child inherits."""
    kinds = []
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.engine import Engine

        kinds.append(Engine)
    if "requests" in sys.modules:
        from requests import Session

        kinds.append(Session)
    if not kinds:
        return []
    found = tuple(kinds)
    frozen = gc.get_freeze_count()
    if frozen:
        gc.unfreeze()  # gc.get_objects() omits frozen objects: list them too, then freeze them again
    try:
        return [obj for obj in gc.get_objects() if isinstance(obj, found)]
    finally:
        if frozen:
            gc.freeze()


def _open_own_connections(owners: list[Any]) -> None:
    """In a child: new connections from here on, and the parent's left as they are. An engine's pool is
    dropped without closing its connections (SQLAlchemy's recipe for os.fork); a session's keep-alive
    sockets are closed in this process only (its file descriptors; the parent's stay open), so two
    children never write requests on one socket."""
    for owner in owners:
        if hasattr(owner, "dispose"):
            owner.dispose(close=False)
        else:
            for adapter in owner.adapters.values():
                adapter.close()
