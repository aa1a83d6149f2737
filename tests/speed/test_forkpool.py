"""hydra_plugins.olist_launcher._forkpool: tasks in forked children (the olist_fork sweep launcher's engine). Fast: real
forks of the test process, no ZenML or MLflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hydra_plugins.olist_launcher._forkpool import ForkUnsafe, check_fork_safe, run_forked

ROOT = Path(__file__).resolve().parents[2]


def _interval(directory: Path, index: int, seconds: float = 0.3):
    def task():
        start = time.time()
        time.sleep(seconds)
        (directory / f"{index}").write_text(f"{start} {time.time()} {os.getpid()}")
        return {"index": index, "pid": os.getpid()}

    return task


def test_results_come_back_in_task_order_from_other_processes(tmp_path):
    outcomes = run_forked([_interval(tmp_path, i, 0.05) for i in range(5)], n_jobs=2)
    assert [o.error for o in outcomes] == [None] * 5
    assert [o.value["index"] for o in outcomes] == list(range(5))
    assert os.getpid() not in {o.value["pid"] for o in outcomes}
    assert len({o.value["pid"] for o in outcomes}) == 5  # a fresh child per task


@pytest.mark.parametrize("n_jobs", [1, 2, 3])
def test_at_most_n_jobs_run_at_once_and_n_jobs_do(tmp_path, n_jobs):
    run_forked([_interval(tmp_path, i) for i in range(6)], n_jobs=n_jobs)
    spans = [tuple(map(float, (tmp_path / f"{i}").read_text().split()[:2])) for i in range(6)]
    # the largest number of tasks alive at one task's start
    overlap = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert overlap == n_jobs


def test_a_failing_task_is_named_and_does_not_stop_the_others(tmp_path):
    def raises():
        raise ValueError("bad parameter")

    def killed():
        os.kill(os.getpid(), signal.SIGKILL)

    def unpicklable():
        return lambda: None

    outcomes = run_forked([raises, killed, unpicklable, lambda: 42], n_jobs=2)
    assert "exited with code 1" in outcomes[0].error and outcomes[0].exit_code == 1
    assert "killed by SIGKILL" in outcomes[1].error
    assert "could not be pickled" in outcomes[2].error
    assert outcomes[3].error is None and outcomes[3].value == 42


def test_refuses_to_fork_beside_other_threads():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="busy-worker")
    thread.start()
    try:
        with pytest.raises(ForkUnsafe, match="busy-worker"):
            check_fork_safe()
        with pytest.raises(ForkUnsafe):
            run_forked([lambda: 1], n_jobs=1)
    finally:
        stop.set()
        thread.join()
    check_fork_safe()


@pytest.mark.parametrize("frozen", [False, True], ids=["collected", "frozen before"])
def test_children_open_their_own_database_connections(tmp_path, frozen, request):
    """An engine the parent used (as ZenML's and MLflow's stores are by the sweep's set-up) works in every
    child, which never touches the parent's pooled connection; the parent's still works afterwards.
    Also when the engine was frozen before (a run's process freezes its set-up, gc_policy.settle_gc):
    gc.get_objects() does not list frozen objects."""
    import gc

    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}", connect_args={"timeout": 30})
    with engine.begin() as conn:
        conn.execute(sa.text("create table jobs (pid integer, connection integer)"))
        parent_connection = conn.connection.dbapi_connection
    if frozen:
        gc.freeze()
        request.addfinalizer(gc.unfreeze)

    def insert():
        with engine.begin() as conn:
            conn.execute(sa.text("insert into jobs values (:pid, :c)"), {"pid": os.getpid(), "c": id(conn.connection.dbapi_connection)})
        return True

    outcomes = run_forked([insert] * 4, n_jobs=2)
    assert all(o.value is True for o in outcomes), [o.error for o in outcomes]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select pid, connection from jobs")).fetchall()
        assert conn.connection.dbapi_connection is parent_connection  # the parent's pool is intact
    assert len(rows) == 4 and len({pid for pid, _ in rows}) == 4
    assert id(parent_connection) not in {c for _, c in rows}
    engine.dispose()


_ECHO_SERVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection

        def do_GET(self):
            body = str(self.client_address[1]).encode()  # the client's port names its connection
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def test_children_open_their_own_http_connections(tmp_path):
    """A keep-alive connection the parent holds (the server stack's ZenML and MLflow REST clients) is never
    used by a child: two children writing requests on one socket would mix their responses."""
    import requests

    script = tmp_path / "echo.py"
    script.write_text(_ECHO_SERVER)
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/"
        session = requests.Session()
        parent_port = session.get(url, timeout=10).text
        assert session.get(url, timeout=10).text == parent_port  # kept alive

        def call():
            return [session.get(url, timeout=10).text for _ in range(3)]

        outcomes = run_forked([call] * 4, n_jobs=2)
        ports = [o.value for o in outcomes]
        assert all(p is not None for p in ports), [o.error for o in outcomes]
        assert parent_port not in {port for child in ports for port in child}
        assert all(len(set(child)) == 1 for child in ports)  # each child keeps its own connection alive
        assert session.get(url, timeout=10).text == parent_port  # and the parent still has its own
    finally:
        server.kill()
        server.wait()


def test_inherited_atexit_hooks_run_in_the_child(tmp_path):
    """A child ends as a process does: atexit handlers (where MLflow and logging flush) run."""
    import atexit

    marker = tmp_path / "atexit"

    def hook():
        if os.getpid() != parent:
            marker.write_text("ran in the child")

    parent = os.getpid()
    atexit.register(hook)
    try:
        assert run_forked([lambda: 1], n_jobs=1)[0].value == 1
    finally:
        atexit.unregister(hook)
    assert marker.read_text() == "ran in the child"


_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from hydra_plugins.olist_launcher._forkpool import run_forked

    out = Path(sys.argv[1])

    def task(i):
        def run():
            (out / f"child{i}").write_text(str(os.getpid()))
            time.sleep(120)
        return run

    (out / "driver").write_text(str(os.getpid()))
    run_forked([task(0), task(1)], n_jobs=2)
    """
)


def _start_driver(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all((tmp_path / f"child{i}").exists() for i in range(2)):
        time.sleep(0.05)
    children = [int((tmp_path / f"child{i}").read_text()) for i in range(2)]
    return proc, children


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie of ours counts as gone
            if Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_an_interrupted_driver_terminates_its_children(tmp_path):
    proc, children = _start_driver(tmp_path)
    proc.send_signal(signal.SIGINT)  # the driver only, not its process group
    assert proc.wait(timeout=30) != 0
    assert all(_gone(pid, 10) for pid in children)


def test_children_do_not_outlive_a_killed_driver(tmp_path):
    proc, children = _start_driver(tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    try:
        assert all(_gone(pid, 10) for pid in children)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_the_heap_is_frozen_only_while_children_run():
    """Frozen while they run (the collector stays off the pages they share); thawed after, unless the
    caller had frozen it itself (a resident runner's child): that is left as it was."""
    import gc

    assert gc.get_freeze_count() == 0
    assert run_forked([gc.get_freeze_count], n_jobs=1)[0].value > 0
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        run_forked([lambda: 1], n_jobs=1)
        assert gc.get_freeze_count() >= before
    finally:
        gc.unfreeze()


def test_an_idle_tqdm_monitor_is_stopped_rather_than_refused():
    """A progress bar a library left open keeps tqdm's monitor thread alive (seen in this test process);
    it is stopped before forking, and the next bar starts a new one."""
    from tqdm import tqdm

    bar = tqdm(total=2, disable=False, file=open(os.devnull, "w"))
    try:
        assert "tqdm_monitor" in {t.name for t in threading.enumerate()}
        assert run_forked([lambda: 7], n_jobs=1)[0].value == 7
        assert "tqdm_monitor" not in {t.name for t in threading.enumerate()}
    finally:
        bar.close()
    with tqdm(total=1, file=open(os.devnull, "w")) as again:
        again.update()


def test_a_child_runs_openmp_with_inner_threads():
    """Two jobs on two cores each with one OpenMP thread, not one per core (oversubscribed cores made a
    100k-row sweep 2-3x slower)."""
    import sklearn.ensemble  # noqa: F401 - loads scikit-learn's OpenMP runtime
    from threadpoolctl import threadpool_info

    def openmp_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}

    assert run_forked([openmp_threads], n_jobs=1, inner_threads=1)[0].value == {1}
    assert run_forked([openmp_threads], n_jobs=1)[0].value == openmp_threads()  # untouched without a limit
