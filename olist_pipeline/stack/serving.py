"""The model server: MLflow's scoring server (`mlflow models serve`) as a background process on loopback.

One server per registered model name. Its state (pid, URL, what it serves, its log) is a JSON file in
`serving.state_dir`, written only once the server answers `/health`, so a failed start never leaves a
record that looks like a running deployment. No ZenML or MLflow import: the server is a subprocess.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from olist_pipeline.errors import ServiceError


@dataclass(frozen=True)
class Server:
    """A running model server, as recorded in its state file."""

    pid: int
    url: str
    model_name: str
    model_uri: str
    model_version: int
    registry_version: str
    started_at: str
    log_path: str

    @property
    def invocations_url(self) -> str:
        return f"{self.url}/invocations"


def state_file(state_dir: Path, model_name: str) -> Path:
    return Path(state_dir) / f"{model_name}.json"


def healthy(url: str, timeout: float = 2.0) -> bool:
    """True when the server at `url` answers `GET /health` with 200."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited child not yet reaped) counts as dead.
    with contextlib.suppress(OSError):
        if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False
    return True


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def current(state_dir: Path, model_name: str) -> Server | None:
    """The recorded server of `model_name` if its process is still alive (stale records are removed)."""
    path = state_file(state_dir, model_name)
    if not path.exists():
        return None
    try:
        server = Server(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if not _alive(server.pid):
        path.unlink(missing_ok=True)
        return None
    return server


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _alive(pgid) or _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    # killpg(0) also succeeds while members are zombies; look for a member that is not.
    for status in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _terminate(pid: int, timeout: float) -> None:
    """Stop the server's whole process group (uvicorn and its workers), SIGKILL after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # the server runs in its own session: stop uvicorn's workers too
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not _group_alive(pid):
                return
            time.sleep(0.1)


def stop(state_dir: Path, model_name: str, timeout: float = 15.0) -> Server | None:
    """Stop the server of `model_name`; returns what was stopped (None: nothing was running)."""
    server = current(state_dir, model_name)
    if server is not None:
        _terminate(server.pid, timeout)
    state_file(state_dir, model_name).unlink(missing_ok=True)
    return server


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def start(
    *,
    model_uri: str,
    model_name: str,
    model_version: int,
    registry_version: str,
    host: str,
    port: int,
    workers: int,
    state_dir: Path,
    timeout: float,
    threads: int = 1,
) -> Server:
    """Start `mlflow models serve` for `model_uri` and wait until `/health` answers.

    Raises:
        ServiceError: port taken by another process, the server exited, or it did not become healthy
            within `timeout` seconds (it is then stopped; nothing is recorded).
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    if _port_in_use(host, port):
        raise ServiceError(f"cannot serve on {url}: the port is in use by another process (set serving.port)")
    log_path = state_dir / f"{model_name}.log"
    env = dict(os.environ)
    # The scoring server starts `uvicorn` by name: this interpreter's bin directory must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # Threads per worker for the model's native code (OpenMP in HistGradientBoosting, BLAS). A small
    # request gains nothing from more than one; its threads synchronise once per tree and spin.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(threads)
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "--model-uri", model_uri, "--env-manager", "local",
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        log.write(f"\n--- {dt.datetime.now().isoformat()} {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if process.poll() is not None:
            raise ServiceError(
                f"model server for {model_uri} exited with code {process.returncode} while starting: "
                f"{_log_tail(log_path)} (full log: {log_path})"
            )
        if time.monotonic() > deadline:
            _terminate(process.pid, 10.0)
            raise ServiceError(f"model server for {model_uri} did not answer {url}/health within {timeout:.0f} s (log: {log_path})")
        time.sleep(0.5)
    server = Server(
        pid=process.pid,
        url=url,
        model_name=model_name,
        model_uri=model_uri,
        model_version=int(model_version),
        registry_version=str(registry_version),
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        log_path=str(log_path),
    )
    path = state_file(state_dir, model_name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(server), indent=2))
    tmp.replace(path)
    return server


def replace(
    *, model_uri: str, model_name: str, model_version: int, registry_version: str, host: str, port: int,
    workers: int, state_dir: Path, timeout: float, threads: int = 1,
) -> tuple[Server, Server | None]:
    """Serve `model_uri` instead of whatever serves `model_name` now. Returns (new, previous).

    If the new server fails to start, the previous model is started again before the error is raised.
    """
    previous = stop(state_dir, model_name)
    try:
        server = start(
            model_uri=model_uri, model_name=model_name, model_version=model_version,
            registry_version=registry_version, host=host, port=port, workers=workers, state_dir=state_dir,
            timeout=timeout, threads=threads,
        )  # fmt: skip
    except ServiceError:
        if previous is not None:
            with contextlib.suppress(ServiceError):
                start(
                    model_uri=previous.model_uri, model_name=model_name, model_version=previous.model_version,
                    registry_version=previous.registry_version, host=host, port=port, workers=workers,
                    state_dir=state_dir, timeout=timeout, threads=threads,
                )  # fmt: skip
        raise
    return server, previous


def deploy(
    *, model_uri: str, model_name: str, model_version: int, registry_version: str, host: str, port: int,
    workers: int, state_dir: Path, timeout: float, threads: int = 1,
) -> tuple[Server, Server | None, str]:
    """Serve `model_uri` for `model_name`: keep a healthy server already serving it, else `replace`.
    Returns (server, previous, action) with action "kept", "replaced" or "started"."""
    running = current(state_dir, model_name)
    if running is not None and running.model_uri == model_uri and healthy(running.url):
        return running, running, "kept"
    server, previous = replace(
        model_uri=model_uri, model_name=model_name, model_version=model_version, registry_version=registry_version,
        host=host, port=port, workers=workers, state_dir=state_dir, timeout=timeout, threads=threads,
    )  # fmt: skip
    return server, previous, "replaced" if previous is not None else "started"


def stop_all(state_dir: Path) -> list[Server]:
    """Stop every model server recorded under `state_dir` (used by `make clean-state`)."""
    stopped = []
    for path in sorted(Path(state_dir).glob("*.json")):
        server = stop(Path(state_dir), path.stem)
        if server is not None:
            stopped.append(server)
    return stopped
