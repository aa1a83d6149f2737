"""The resident runner (olist_pipeline/speed/resident.py): a process holding ZenML, MLflow, scikit-learn...
imported, forking one child per `python -m olist_pipeline` call.

The slow tests start a real runner (its own socket directory), run the real pipeline through it on the
embedded sample in an isolated ZenML/MLflow home, and compare with the same run in a process of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from olist_pipeline.stack import infra
from olist_pipeline.speed import resident
from tests.conftest import cli, summary_metrics

RUN = ("+env=dev", "evaluation.report=false")


# ---------------------------------------------------------------- fast


def test_environment_difference_names_the_variables_and_ignores_shell_noise():
    started = {"PATH": "/a", "ZENML_LOGGING_VERBOSITY": "WARN", "PWD": "/x", "SHLVL": "1", "MAKELEVEL": "1"}
    call = {"PATH": "/a", "ZENML_LOGGING_VERBOSITY": "DEBUG", "PWD": "/y", "SHLVL": "3", "NEW": "1"}
    assert resident.env_difference(started, call) == ["NEW", "ZENML_LOGGING_VERBOSITY"]
    assert resident.env_difference(started, {**started, "PWD": "/elsewhere", "OLIST_RESIDENT": "require"}) == []
    assert resident.env_difference(started, {**started, "ARGS": "model=ridge", "MAKEFLAGS": "-- ARGS=x"}) == []


def test_import_time_environment_is_the_one_the_pipeline_sets():
    """The runner imports ZenML under the same defaults infra sets before a process's first ZenML import."""
    assert infra.ZENML_ENV_DEFAULTS is resident.ZENML_ENV_DEFAULTS
    assert resident.ZENML_ENV_DEFAULTS["ZENML_LOGGING_VERBOSITY"] == "WARN"


def test_warm_modules_are_third_party_only():
    assert not [m for m in resident.WARM_MODULES if m.split(".")[0] == "olist_pipeline"]


@pytest.mark.parametrize(("modules", "error"), [(("json",), None), (("json", "olist_pipeline.paths"), "olist_pipeline.paths")])
def test_warming_up_the_projects_own_code_is_refused(tmp_path, modules, error):
    """A child must import olist_pipeline itself, or an edited module would run as the runner's old copy."""
    code = (
        "import sys; from pathlib import Path; from olist_pipeline.speed.resident import Runner\n"
        f"Runner(Path({str(tmp_path)!r}) / 's.sock', idle_minutes=1, modules={modules!r}).warm_up()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if error is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0 and "ResidentError" in result.stderr and error in result.stderr


def test_the_runner_watches_the_project_modules_it_holds():
    """A child runs the runner's copy of `RUNNER_OWN_MODULES`: an edit to one of them stops the runner,
    as an installation does."""
    files = {Path(f) for f in resident._own_files()}
    assert all(f.is_file() for f in files)
    assert {Path(resident.__file__).resolve(), Path(resident.run_main.__code__.co_filename).resolve()} <= files
    assert files <= set(map(Path, resident.packages_fingerprint()))


def test_without_a_runner_calls_run_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(resident.ENV_DIR, str(tmp_path))
    monkeypatch.delenv(resident.ENV_SWITCH, raising=False)
    assert resident.try_run(["olist_pipeline"]) is None
    monkeypatch.setenv(resident.ENV_SWITCH, "off")
    assert resident.try_run(["olist_pipeline"]) is None
    monkeypatch.setenv(resident.ENV_SWITCH, "require")
    with pytest.raises(SystemExit) as exit_:
        resident.try_run(["olist_pipeline"])
    assert exit_.value.code == 2
    assert "no resident runner is listening" in capsys.readouterr().err


def test_a_dead_runners_socket_is_not_used(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(resident.ENV_DIR, str(tmp_path))
    monkeypatch.delenv(resident.ENV_SWITCH, raising=False)
    import socket

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(resident.socket_path()))
    stale.close()  # the file stays, nobody listens
    assert resident.try_run(["olist_pipeline"]) is None


# ---------------------------------------------------------------- slow: a real runner


class RunnerProcess:
    def __init__(self, directory: Path, env: dict[str, str], watch: Path):
        self.directory = directory
        self.env = env
        self.log = directory / "serve.log"
        command = [sys.executable, "-m", "olist_pipeline.speed.resident", "serve", "--watch", str(watch)]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd="/")  # fmt: skip
        deadline = time.monotonic() + 120
        while "ready:" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "runner not ready after 120 s"
            time.sleep(0.1)

    def call(self, *args: str, extra_env: dict[str, str] | None = None, **kwargs):
        # "" = use the runner when it takes the call (conftest turns it off for the rest of the suite)
        return cli(*args, env={**self.env, resident.ENV_SWITCH: "", **(extra_env or {})}, **kwargs)

    def children(self) -> list[int]:
        return [int(p) for p in re.findall(r"pid (\d+): /", self.log.read_text())]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    directory = tmp_path_factory.mktemp("resident")
    watch = directory / "watched"
    watch.write_text("0")
    env = {**os.environ, resident.ENV_DIR: str(directory), "ZENML_ANALYTICS_OPT_IN": "false", "COLUMNS": "200"}
    env.pop(resident.ENV_SWITCH, None)
    env.pop("HYDRA_FULL_ERROR", None)
    process = RunnerProcess(directory, env, watch)
    process.watch = watch
    yield process
    process.stop()
    assert not (directory / "runner.sock").exists(), "the runner left its socket behind"



@pytest.mark.slow
def test_a_run_through_the_runner_is_the_same_run(runner, tmp_path):
    report = tmp_path / "report.json"
    require = {resident.ENV_SWITCH: "require", resident.ENV_REPORT: str(report)}
    through = runner.call(*RUN, state_dir=tmp_path / "through", extra_env=require)
    assert through.returncode == 0, through.stderr[-3000:]
    assert "resident runner" not in through.stderr  # taken, not refused
    assert json.loads(report.read_text())["exit"] == 0
    assert json.loads(report.read_text())["maxrss_kb"] > 100_000
    assert json.loads(report.read_text())["cpu_s"] > 1  # the run's CPU time, measured by the runner
    assert "zenml run" in through.stdout and "promoted" in through.stdout
    alone = runner.call(*RUN, state_dir=tmp_path / "alone", extra_env={resident.ENV_SWITCH: "off"})
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert summary_metrics(through.stdout) == summary_metrics(alone.stdout) != {}
    # the ZenML run and the MLflow run went to the call's own home
    assert (tmp_path / "through" / "zenml").is_dir() and (tmp_path / "through" / "mlflow").is_dir()


@pytest.mark.slow
def test_a_bad_config_fails_the_same_way_and_writes_nothing(runner, tmp_path):
    result = runner.call("model=ridgee", state_dir=tmp_path / "state", extra_env={resident.ENV_SWITCH: "require"})
    assert result.returncode != 0
    assert "Available options in 'model'" in result.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.slow
def test_another_environment_runs_in_process_and_says_why(runner):
    result = runner.call("--help", extra_env={"ZENML_LOGGING_VERBOSITY": "DEBUG"})
    assert result.returncode == 0 and "olist_pipeline: train" in result.stdout
    assert "did not take the call: the environment differs from the runner's in ZENML_LOGGING_VERBOSITY" in result.stderr
    refused = runner.call("--help", extra_env={"ZENML_LOGGING_VERBOSITY": "DEBUG", resident.ENV_SWITCH: "require"})
    assert refused.returncode == 2 and "did not take this call" in refused.stderr


@pytest.mark.slow
def test_ctrl_c_reaches_the_child_and_a_dead_caller_stops_it(runner, tmp_path):
    env = {**runner.env, resident.ENV_SWITCH: "require"}
    command = [sys.executable, "-m", "olist_pipeline", *RUN, f"paths.state_dir={tmp_path / 'a'}"]
    seen = set(runner.children())

    def started_child(caller: subprocess.Popen) -> int:
        deadline = time.monotonic() + 60
        while not (new := set(runner.children()) - seen):
            assert caller.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        seen.update(new)
        return new.pop()

    caller = subprocess.Popen(command, env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = started_child(caller)
    time.sleep(2)
    caller.send_signal(signal.SIGINT)
    try:
        _, err = caller.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # seen once on a fresh machine: say where the child was stuck
        stacks = _stacks(first)
        caller.kill()
        _, err = caller.communicate()
        pytest.fail(f"the interrupted call did not end in 60 s; its output:\n{err[-3000:]}\nthe child's stacks:\n{stacks}")
    assert caller.returncode == 130, err[-2000:]

    command[-1] = f"paths.state_dir={tmp_path / 'b'}"
    caller = subprocess.Popen(command, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = started_child(caller)
    time.sleep(1)
    caller.kill()
    caller.wait()
    deadline = time.monotonic() + 3  # the run itself would go on for several seconds
    while _alive(child):
        assert time.monotonic() < deadline, "the runner did not stop the child of a dead caller"
        time.sleep(0.1)
    time.sleep(0.5)
    assert f"pid {child}: exit {128 + signal.SIGTERM}" in runner.log.read_text()
    # and the runner still takes calls
    assert runner.call("--help", extra_env={resident.ENV_SWITCH: "require"}).returncode == 0


def _stacks(pid: int) -> str:
    """Every thread's Python stack of a live process (py-spy, a dev dependency)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    try:
        dump = subprocess.run([str(py_spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(py-spy failed: {exc})"
    return dump.stdout + dump.stderr


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.slow
def test_status_names_a_runner_that_would_refuse_this_environment(runner):
    def status(**extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "olist_pipeline.speed.resident", "status"]
        return subprocess.run(command, env={**runner.env, **extra}, capture_output=True, text=True, cwd="/")

    same = status(COLUMNS="80")  # shell noise does not count
    assert same.returncode == 0 and "running (pid" in same.stdout and "stale" not in same.stdout
    other = status(OLIST_SOMETHING_NEW="1")
    assert other.returncode == 0 and "stale: it was started from another environment" in other.stdout


@pytest.mark.slow
def test_start_restarts_a_stale_runner(tmp_path):
    env = {**os.environ, resident.ENV_DIR: str(tmp_path), "ZENML_ANALYTICS_OPT_IN": "false"}
    env.pop(resident.ENV_SWITCH, None)

    def command(name: str, **extra: str) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-m", "olist_pipeline.speed.resident", name]
        return subprocess.run(args, env={**env, **extra}, capture_output=True, text=True, cwd="/", timeout=300)

    try:
        first = command("start")
        assert first.returncode == 0, first.stderr
        pid = int((tmp_path / "runner.pid").read_text())
        again = command("start")
        assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout
        moved = command("start", OLIST_SOMETHING_NEW="1")
        assert moved.returncode == 0, moved.stderr
        assert f"restarting the runner (pid {pid}): it was started from another environment" in moved.stdout
        assert not _alive(pid) and int((tmp_path / "runner.pid").read_text()) != pid
    finally:
        command("stop", OLIST_SOMETHING_NEW="1")
    assert not (tmp_path / "runner.pid").exists() and not (tmp_path / "runner.json").exists()


@pytest.mark.slow
def test_a_changed_installation_stops_the_runner(runner):
    """After `pip install` (here: a watched path changing) the runner refuses the call and stops: a child
    would otherwise run on the libraries as they were when it started."""
    os.utime(runner.watch, ns=(time.time_ns(), time.time_ns() + 10**9))
    result = runner.call("--help", extra_env={resident.ENV_SWITCH: "require"})
    assert result.returncode == 2 and "changed since it started" in result.stderr
    runner.process.wait(timeout=30)
    fallback = runner.call("--help")  # no runner now: in-process, no note
    assert fallback.returncode == 0 and "resident runner" not in fallback.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the socket file to another user")
def test_a_socket_of_another_user_is_never_called(tmp_path, monkeypatch, capsys):
    """The call sends its environment (credentials included): never to another user's process."""
    import socket

    monkeypatch.setenv(resident.ENV_DIR, str(tmp_path))
    monkeypatch.delenv(resident.ENV_SWITCH, raising=False)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(resident.socket_path()))
    listener.listen(1)
    os.chown(resident.socket_path(), 12345, -1)
    try:
        with pytest.raises(SystemExit) as exit_:
            resident.try_run(["olist_pipeline"])
    finally:
        listener.close()
    assert exit_.value.code == 2
    assert "belongs to uid 12345" in capsys.readouterr().err
