"""The resident runner: one process that has already imported ZenML, MLflow, scikit-learn, pandas, Hydra...
and forks a fresh child for each `python -m olist_pipeline` call (a "zygote", as Android's app start-up
and multiprocessing's forkserver do it).

About 6 of a run's ~13 s on the sample are imports of those libraries; a child forked from a process that
already holds them starts its run at once. Start it with `make resident-up` (or `python -m
olist_pipeline.speed.resident start`); while it runs, `python -m olist_pipeline ...` from the same environment
hands its arguments, working directory, environment, umask and its stdin/stdout/stderr to it and waits for
the child's exit code. Without it (or with `OLIST_RESIDENT=off`) every call runs in its own process, as
before. `OLIST_RESIDENT=require` makes a call fail instead of running in-process when the runner cannot
take it.

What keeps a run in a child identical to one in a process of its own:
- only third-party libraries are imported ahead (`WARM_MODULES`); the project's own modules are imported by
  each child, so edits to olist_pipeline are picked up by the next call;
- a call is refused (and runs in-process) when its environment differs from the one the runner started in
  (libraries read variables such as `ZENML_LOGGING_VERBOSITY` when they are imported), except in variables
  no library reads (`VOLATILE_ENV`); the refusal names the variables;
- the runner stops itself, refusing the call, once the installed packages (the mtimes of the site-packages
  directories) or the project modules it holds (`RUNNER_OWN_MODULES`) have changed since it started;
- the runner is single-threaded (forking a threaded process can deadlock the child), never touches a ZenML
  or MLflow store, and freezes its heap (`gc.freeze`) so children share its pages;
- the child runs `olist_pipeline` exactly as `python -m` does (`runpy`, `__main__`), runs the atexit
  handlers and joins threads as interpreter shutdown would, and its exit code is the call's.
- Ctrl-C / SIGTERM / SIGHUP of the calling process is passed to the child's process group; if the calling
  process dies, the runner terminates the child's process group.

Only the same user can connect (the socket's directory is 0700 and the peer's uid is checked). Linux only
(`SO_PEERCRED`, `socket.send_fds`). This module imports only the standard library and the project's
standard-library modules in `RUNNER_OWN_MODULES`: the calling side runs before anything else in
`python -m olist_pipeline`.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from olist_pipeline.environment import ZENML_ENV_DEFAULTS
from olist_pipeline.speed.process import run_main

PROTOCOL = 1
ENV_SWITCH = "OLIST_RESIDENT"  # off | require | (unset / anything else: use the runner when it is up)
ENV_DIR = "OLIST_RESIDENT_DIR"  # where the socket, pid and log live (default: a per-user runtime dir)
ENV_REPORT = "OLIST_RESIDENT_REPORT"  # a JSON file the caller writes the child's exit, peak RSS and CPU time to
DEFAULT_IDLE_MINUTES = 120

# Third-party modules a run imports; importing them is most of a run's fixed cost on a small input.
WARM_MODULES = (
    "hydra", "hydra._internal.hydra", "hydra._internal.utils", "hydra.core.utils", "omegaconf",
    "numpy", "pandas", "pyarrow", "pyarrow.parquet", "pandera.pandas",
    "sklearn.compose", "sklearn.ensemble", "sklearn.impute", "sklearn.inspection", "sklearn.linear_model",
    "sklearn.metrics", "sklearn.model_selection", "sklearn.pipeline", "sklearn.preprocessing", "skops.io",
    "rich.console", "rich.table", "matplotlib.pyplot",
    "zenml", "zenml.client", "zenml.zen_stores.sql_zen_store", "zenml.pipelines.pipeline_definition",
    "zenml.orchestrators.local.local_orchestrator", "zenml.orchestrators.step_launcher",
    "zenml.orchestrators.step_runner", "zenml.artifact_stores.local_artifact_store",
    "zenml.integrations.pandas.materializers.pandas_materializer",
    "mlflow", "mlflow.models", "mlflow.pyfunc", "mlflow.sklearn", "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store",
)  # fmt: skip

# Variables that differ between shells and make invocations and that no library reads at import time.
VOLATILE_ENV = frozenset({
    "_", "PWD", "OLDPWD", "SHLVL", "TERM", "COLORTERM", "COLUMNS", "LINES", "PS1", "PS2", "HISTFILE",
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKE_TERMOUT", "MAKE_TERMERR", "MAKEOVERRIDES",
    "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "SSH_AUTH_SOCK", "TMUX", "TMUX_PANE", "WINDOWID", "DISPLAY",
    "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "PYTEST_CURRENT_TEST", ENV_SWITCH, ENV_REPORT,
    # the Makefile's own variables: make exports those given on its command line (make sweep ARGS=...)
    "ARGS", "ENV", "INPUT", "VERSION", "STACK_ARGS", "PYTEST_ARGS", "BENCH_ARGS",
})  # fmt: skip

#: The project's modules the runner itself imports (the rest each child imports fresh): standard library
#: code that a child must share with the runner (`IN_CHILD`, the memo `preload` filled).
RUNNER_OWN_MODULES = frozenset({
    __name__, __package__, "olist_pipeline.environment", "olist_pipeline.speed.process",
    "olist_pipeline.speed.package_index",
})  # fmt: skip

_HEADER = struct.Struct("!I")


class ResidentError(RuntimeError):
    """The runner could not be started, reached or used."""


# ---------------------------------------------------------------- where it lives


def runtime_dir() -> Path:
    """Socket, pid file and log of this interpreter's runner (one per venv and checkout)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    key = hashlib.sha256(f"{os.path.realpath(sys.executable)}\0{Path(__file__).resolve().parent}".encode())
    return Path(base) / f"olist-pipeline-{os.getuid()}" / key.hexdigest()[:12]


def _own_files() -> list[str]:
    """The files of `RUNNER_OWN_MODULES`: a child runs the runner's copy of them, not the file's."""
    root = Path(__file__).resolve().parents[2]
    files = []
    for name in sorted(RUNNER_OWN_MODULES - {"__main__"}):
        base = root.joinpath(*name.split("."))
        files.append(str(base / "__init__.py" if base.is_dir() else base.with_suffix(".py")))
    return files


def socket_path() -> Path:
    return runtime_dir() / "runner.sock"


def env_difference(started: dict[str, str], call: dict[str, str]) -> list[str]:
    """Names of the variables (sorted) whose values differ between the runner's start and a call."""
    names = (set(started) | set(call)) - VOLATILE_ENV
    return sorted(n for n in names if started.get(n) != call.get(n))


def packages_fingerprint(extra: tuple[str, ...] = ()) -> dict[str, int]:
    """mtime of the site-packages directories (pip install / uninstall adds or removes entries there), of
    the runner's own modules' files and of the `extra` paths."""
    import site

    out = {}
    for entry in [*site.getsitepackages(), site.getusersitepackages(), *_own_files(), *extra]:
        try:
            out[entry] = os.stat(entry).st_mtime_ns
        except OSError:
            continue
    return out


# ---------------------------------------------------------------- messages


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(sock, [payload], fds)
    else:
        sock.sendall(payload)


def _recv(sock: socket.socket, with_fds: bool = False) -> tuple[dict[str, Any] | None, list[int]]:
    """One message (None on EOF) and the descriptors that came with it."""
    fds: list[int] = []
    buffer = b""
    while len(buffer) < _HEADER.size:
        if with_fds and not buffer:
            chunk, fds, _, _ = socket.recv_fds(sock, 65536, 8)
        else:
            chunk = sock.recv(_HEADER.size - len(buffer))
        if not chunk:
            return None, fds
        buffer += chunk
    (size,) = _HEADER.unpack(buffer[: _HEADER.size])
    body = buffer[_HEADER.size :]
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            return None, fds
        body += chunk
    return json.loads(body[:size]), fds


# ---------------------------------------------------------------- the calling side


def try_run(argv: list[str]) -> int | None:
    """Run this call in the resident runner and return its exit code, or None to run it in-process."""
    mode = os.environ.get(ENV_SWITCH, "").strip().lower()
    if mode in ("0", "off", "false", "no"):
        return None
    path = socket_path()
    try:
        owner = path.stat().st_uid
    except OSError:
        if mode == "require":
            _fail(f"{ENV_SWITCH}=require but no resident runner is listening at {path} (make resident-up)")
        return None
    if owner != os.getuid():  # the call's environment would go to another user's process
        _fail(f"{path} belongs to uid {owner}, not to you: remove it, or set {ENV_DIR} to a folder of your own")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(10)
        sock.connect(str(path))
        umask = os.umask(0)
        os.umask(umask)
        request = {"protocol": PROTOCOL, "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}
        _send(sock, request, [0, 1, 2])
        reply, _ = _recv(sock)
    except OSError as exc:
        sock.close()
        if mode == "require":
            _fail(f"the resident runner at {path} did not answer: {exc}")
        return None
    if not reply or not reply.get("accepted"):
        sock.close()
        reason = (reply or {}).get("reason", "it closed the connection")
        if mode == "require":
            _fail(f"the resident runner did not take this call: {reason}")
        print(f"olist-pipeline: running in this process; the resident runner did not take the call: {reason}",
              file=sys.stderr)  # fmt: skip
        return None
    return _wait_for_child(sock, int(reply["pid"]))


def _wait_for_child(sock: socket.socket, pid: int) -> int:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    sock.settimeout(None)
    message, _ = _recv(sock)  # a forwarded signal interrupts nothing: recv is retried (PEP 475)
    sock.close()
    if message is None:
        print(f"olist-pipeline: the resident runner went away while running the call (child pid {pid})",
              file=sys.stderr)  # fmt: skip
        return 70
    if os.environ.get(ENV_REPORT):
        Path(os.environ[ENV_REPORT]).write_text(json.dumps({"pid": pid, **message}))
    return int(message["exit"])


def _fail(message: str) -> None:
    print(f"olist-pipeline: {message}", file=sys.stderr)
    raise SystemExit(2)


# ---------------------------------------------------------------- the runner


class Runner:
    """The single-threaded accept / fork / reap loop."""

    def __init__(self, path: Path, idle_minutes: float, modules: tuple[str, ...] = WARM_MODULES,
                 watch: tuple[str, ...] = ()):  # fmt: skip
        self.path = path
        self.watch = watch
        self.idle_seconds = idle_minutes * 60
        self.modules = modules
        self.started_env = dict(os.environ)
        self.children: dict[int, socket.socket] = {}  # child pid -> the caller's connection
        self.listener: socket.socket | None = None
        self.stopping = False

    def warm_up(self) -> float:
        import gc

        start = time.perf_counter()
        for key, value in ZENML_ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        preload(self.modules)
        own = sorted(m for m in sys.modules if m.startswith("olist_pipeline.") and m not in RUNNER_OWN_MODULES)
        if own:  # a child must import the project's code itself, or it would run a stale copy
            raise ResidentError(f"warming up imported the project's own modules: {own}")
        os.environ.clear()
        os.environ.update(self.started_env)
        self.fingerprint = packages_fingerprint(self.watch)
        gc.collect()
        gc.freeze()
        return time.perf_counter() - start

    def listen(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
                raise ResidentError(f"a resident runner is already listening at {self.path}")
            except (ConnectionRefusedError, FileNotFoundError):
                self.path.unlink(missing_ok=True)
            finally:
                probe.close()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        self.listener.listen(16)
        self.inode = os.stat(self.path).st_ino

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        selector = selectors.DefaultSelector()
        assert self.listener is not None
        selector.register(self.listener, selectors.EVENT_READ)
        last_activity = time.monotonic()
        try:
            while not (self.stopping and not self.children):
                for key, _ in selector.select(timeout=0.2):
                    if key.fileobj is self.listener:
                        if not self.stopping:
                            self._accept(selector)
                    else:  # a caller's connection became readable: it went away; stop its child
                        pid = key.data
                        selector.unregister(key.fileobj)
                        self._signal_child(pid, signal.SIGTERM)
                self._reap(selector)
                if self.children:
                    last_activity = time.monotonic()
                elif time.monotonic() - last_activity > self.idle_seconds:
                    print(f"idle for {self.idle_seconds / 60:g} min: stopping", flush=True)
                    self.stopping = True
        finally:
            self._close()

    def _stop(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def _close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        try:
            if os.stat(self.path).st_ino == self.inode:
                self.path.unlink()
        except OSError:
            pass

    def _accept(self, selector: Any) -> None:
        assert self.listener is not None
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(5)
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            request, fds = _recv(conn, with_fds=True)
            reason = self._refusal(uid, request, fds)
            if reason:
                _send(conn, {"accepted": False, "reason": reason})
                conn.close()
                return
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which never returns here
                self._child(conn, request, fds)
            conn.settimeout(None)
            _send(conn, {"accepted": True, "pid": pid})
            self.children[pid] = conn
            selector.register(conn, selectors.EVENT_READ, data=pid)
            print(f"{time.strftime('%H:%M:%S')} pid {pid}: {' '.join(request['argv'])}", flush=True)
        except (OSError, ValueError) as exc:
            print(f"a call failed before it started: {exc}", flush=True)
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def _refusal(self, uid: int, request: dict[str, Any] | None, fds: list[int]) -> str | None:
        if uid != os.getuid():
            return "another user's runner"
        if not request or request.get("protocol") != PROTOCOL or len(fds) != 3:
            return "the caller speaks another protocol (the runner is older or newer than this checkout)"
        if packages_fingerprint(self.watch) != self.fingerprint:
            self.stopping = True
            return "installed packages or the runner's code changed since it started; it is stopping"
        differing = env_difference(self.started_env, request["env"])
        if differing:
            shown = ", ".join(differing[:6]) + (", ..." if len(differing) > 6 else "")
            return f"the environment differs from the runner's in {shown} (restart it from this environment)"
        return None

    def _child(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        """In the forked child: become the caller's process and run olist_pipeline as `python -m` would."""
        code = 1
        try:
            os.setpgid(0, 0)
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C -> KeyboardInterrupt, as usual
            if self.listener is not None:
                self.listener.close()
            for other in self.children.values():
                other.close()
            conn.close()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in fds:
                os.close(fd)
            for stream in (sys.stdout, sys.stderr):
                stream.reconfigure(line_buffering=stream.isatty() or stream is sys.stderr)
            os.chdir(request["cwd"])
            os.umask(request["umask"])
            os.environ.clear()
            os.environ.update(request["env"])
            code = _run_as_main(request["argv"])
        except BaseException:  # noqa: BLE001 - the child must end here whatever happens
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001
                    pass
            os._exit(code)

    def _reap(self, selector: Any) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            try:
                selector.unregister(conn)
            except (KeyError, ValueError):
                pass
            try:
                _send(conn, {"exit": code, "maxrss_kb": usage.ru_maxrss, "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)})
            except OSError:
                pass
            conn.close()
            print(f"{time.strftime('%H:%M:%S')} pid {pid}: exit {code}", flush=True)

    def _signal_child(self, pid: int, signum: int) -> None:
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass


def preload(modules: tuple[str, ...] = WARM_MODULES, flavors: bool = True) -> None:
    """Import `modules` and do the per-process work a run would otherwise do first (ZenML's flavor
    classes when `flavors`, the package index), so that processes forked from this one start with it
    done. The flavor classes are only imported by a run that creates a ZenML store (0.25 s)."""
    import importlib

    for name in modules:
        importlib.import_module(name)
    if "zenml" in modules:
        if flavors:
            _import_zenml_flavors()
        from olist_pipeline.speed import package_index

        package_index.fill()  # about 0.5 s of every forked run otherwise


def _import_zenml_flavors() -> None:
    """Import the classes of ZenML's built-in and integration flavors: a new ZenML store registers them
    all (about 2 s of a cold run, mostly these imports). Imports only; no store is touched."""
    from zenml.integrations.registry import integration_registry
    from zenml.stack.flavor_registry import FlavorRegistry

    FlavorRegistry().builtin_flavors
    for integration in integration_registry.integrations.values():
        try:
            integration.flavors()
        except Exception:  # noqa: BLE001 - ZenML skips an integration whose flavors fail the same way
            continue


def _run_as_main(argv: list[str]) -> int:
    """`python -m olist_pipeline ARGS` in this process; its exit code. Interpreter shutdown's last steps
    (joining threads, atexit handlers) are run here because the child ends with os._exit."""
    import runpy

    global IN_CHILD
    IN_CHILD = True
    sys.argv = [argv[0], *argv[1:]]
    return run_main(lambda: runpy.run_module("olist_pipeline", run_name="__main__", alter_sys=True))


IN_CHILD = False  # set in a child, so its `python -m olist_pipeline` does not call the runner again


# ---------------------------------------------------------------- command line


def _pid_file() -> Path:
    return runtime_dir() / "runner.pid"


def _log_file() -> Path:
    return runtime_dir() / "runner.log"


def _state_file() -> Path:
    return runtime_dir() / "runner.json"


def _env_digest(env: dict[str, str]) -> str:
    """A digest of the environment as the runner compares it (values are not written to disk)."""
    kept = sorted((k, v) for k, v in env.items() if k not in VOLATILE_ENV)
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()


def stale_reason() -> str | None:
    """Why the running runner would refuse this environment's calls (its packages, code or environment
    changed since it started), or None."""
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    if packages_fingerprint(tuple(state.get("watch", ()))) != state.get("fingerprint"):
        return "installed packages or the runner's code changed since it started"
    if _env_digest(dict(os.environ)) != state.get("env"):
        return "it was started from another environment"
    return None


def running_pid() -> int | None:
    try:
        pid = int(_pid_file().read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if socket_path().exists() else None


def serve_foreground(idle_minutes: float, watch: tuple[str, ...] = ()) -> None:
    runner = Runner(socket_path(), idle_minutes, watch=watch)
    runner.listen()  # before warming up: a second runner fails at once, and callers wait for this one
    try:
        seconds = runner.warm_up()
    except BaseException:
        runner._close()
        raise
    _pid_file().write_text(str(os.getpid()))
    state = {"fingerprint": runner.fingerprint, "watch": list(watch), "env": _env_digest(runner.started_env)}
    _state_file().write_text(json.dumps(state))
    print(f"ready: imported {len(runner.modules)} libraries in {seconds:.1f} s; listening at {runner.path}",
          flush=True)  # fmt: skip
    try:
        runner.serve()
    finally:
        _pid_file().unlink(missing_ok=True)
        _state_file().unlink(missing_ok=True)


def start(idle_minutes: float, timeout: float = 120) -> int:
    """Start the runner in the background (detached, logging to runner.log) and wait until it is ready."""
    import subprocess

    if (pid := running_pid()) is not None:
        why = stale_reason()
        if why is None:
            print(f"already running (pid {pid}), listening at {socket_path()}")
            return 0
        print(f"restarting the runner (pid {pid}): {why}")
        if stop() != 0:
            return 1
    runtime_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    log = _log_file()
    code = f"from olist_pipeline.speed.resident import serve_foreground; serve_foreground({idle_minutes!r})"
    env = {k: v for k, v in os.environ.items() if k not in (ENV_SWITCH, ENV_REPORT)}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, env=env)  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"the resident runner failed to start:\n{log.read_text()}", file=sys.stderr)
            return 1
        if "ready:" in log.read_text():
            print(log.read_text().strip().splitlines()[-1] + f" (pid {process.pid}; log {log})")
            return 0
        time.sleep(0.1)
    process.terminate()
    print(f"the resident runner was not ready after {timeout:.0f} s; see {log}", file=sys.stderr)
    return 1


def stop(timeout: float = 30) -> int:
    pid = running_pid()
    if pid is None:
        print("no resident runner is running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"stopped (pid {pid})")
            return 0
        time.sleep(0.1)
    print(f"pid {pid} did not stop within {timeout:.0f} s (it waits for running calls)", file=sys.stderr)
    return 1


def main(args: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m olist_pipeline.speed.resident", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "serve"],
                        help="serve = run in the foreground")  # fmt: skip
    parser.add_argument("--idle-minutes", type=float, default=DEFAULT_IDLE_MINUTES,
                        help="stop after this long without a call (default %(default)s)")  # fmt: skip
    parser.add_argument("--watch", action="append", default=[], metavar="PATH",
                        help="serve: also stop once PATH's mtime changes (besides site-packages)")  # fmt: skip
    options = parser.parse_args(args)
    if options.command == "start":
        return start(options.idle_minutes)
    if options.command == "stop":
        return stop()
    if options.command == "serve":
        serve_foreground(options.idle_minutes, tuple(options.watch))
        return 0
    pid = running_pid()
    if pid is None:
        print("not running")
        return 3
    why = stale_reason()
    print(f"running (pid {pid}), listening at {socket_path()}" + (f"; stale: {why} (`start` restarts it)" if why else ""))
    return 0


if __name__ == "__main__":
    # Through the module's own name: run as __main__, its globals (IN_CHILD) would be a second copy.
    from olist_pipeline.speed.resident import main as _main

    raise SystemExit(_main())
