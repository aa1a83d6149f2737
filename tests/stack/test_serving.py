"""The model-server process manager (the full serve/predict/stop cycle is in test_lifecycle)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from olist_pipeline.stack import serving
from olist_pipeline.errors import ServiceError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(tmp_path, port, uri="models:/nothing/1", timeout=60.0):
    return serving.start(
        model_uri=uri, model_name="m", model_version=1, registry_version="1", host="127.0.0.1", port=port,
        workers=1, state_dir=tmp_path, timeout=timeout,
    )  # fmt: skip


def test_nothing_running(tmp_path):
    assert serving.current(tmp_path, "m") is None
    assert serving.stop(tmp_path, "m") is None
    assert serving.stop_all(tmp_path) == []


def test_stale_and_corrupt_records_are_dropped(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {
        "pid": dead.pid, "url": "http://127.0.0.1:1", "model_name": "m", "model_uri": "models:/m/1",
        "model_version": 1, "registry_version": "1", "started_at": "now", "log_path": "x",
    }  # fmt: skip
    serving.state_file(tmp_path, "m").write_text(json.dumps(record))
    assert serving.current(tmp_path, "m") is None
    assert not serving.state_file(tmp_path, "m").exists()
    serving.state_file(tmp_path, "m").write_text("{not json")
    assert serving.current(tmp_path, "m") is None


def test_stop_terminates_the_recorded_process(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    record = {
        "pid": sleeper.pid, "url": "http://127.0.0.1:1", "model_name": "m", "model_uri": "models:/m/1",
        "model_version": 1, "registry_version": "1", "started_at": "now", "log_path": "x",
    }  # fmt: skip
    serving.state_file(tmp_path, "m").write_text(json.dumps(record))
    assert serving.current(tmp_path, "m").pid == sleeper.pid
    stopped = serving.stop(tmp_path, "m", timeout=5)
    assert stopped.pid == sleeper.pid
    assert sleeper.wait(timeout=5) is not None
    assert serving.current(tmp_path, "m") is None


def test_port_in_use_fails_before_starting_anything(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServiceError, match=rf"http://127.0.0.1:{port}: the port is in use"):
            _start(tmp_path, port)
    assert not serving.state_file(tmp_path, "m").exists()


@pytest.mark.slow
def test_a_server_that_cannot_start_leaves_no_record(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    with pytest.raises(ServiceError, match=r"models:/nothing/1 exited with code"):
        _start(tmp_path, _free_port())
    assert not serving.state_file(tmp_path, "m").exists()
    assert (tmp_path / "m.log").exists()
