"""The one switch (olist_pipeline/speed/__init__.py): `OLIST_SPEED=off` turns every accelerator off, and
with it on (the default) each one acts. Each case runs in a process of its own, since the accelerators
are process-wide (a replaced function, the collector, how the process ends)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from olist_pipeline import speed
from olist_pipeline.environment import ZENML_ENV_DEFAULTS

MODES = {"off": "off", "on": ""}  # unset / empty: on

#: Calls every facade function the other layers use and prints what each one did, as JSON.
_FACADE = """
import gc, importlib.metadata, json, os, sys
from pathlib import Path
from olist_pipeline import speed
from olist_pipeline.environment import ZENML_ENV_DEFAULTS

seen = {}
real = importlib.metadata.packages_distributions
speed.memoize_package_index()
seen["memoized"] = importlib.metadata.packages_distributions is not real
seen["kept_bytes"] = speed.keep_input_bytes(100)
seen["handoff_bytes"] = speed.handoff_bytes(100)
from olist_pipeline.speed.resident import WARM_MODULES
speed.preload_for_jobs(("colorsys",), leave_out=WARM_MODULES)  # a module nothing else here imports
seen["preloaded"] = "colorsys" in sys.modules
home = Path(os.environ["ZENML_CONFIG_PATH"])
with speed.opening_local_zenml_store():
    seen["zenml_stores"] = sorted(p.name for p in home.rglob("*.db"))
mlflow_db = Path(sys.argv[1])
speed.seed_mlflow_store(f"sqlite:///{mlflow_db}")
seen["mlflow_store"] = mlflow_db.exists()

def main():
    seen["gc_held"] = not gc.isenabled()
    speed.settle_gc()
    seen["gc_after_settle"] = gc.isenabled()
    seen["frozen"] = gc.get_freeze_count() > 0
    print(json.dumps(seen))

speed.run_program(main, [sys.argv[0]])
print("run_program returned")  # a plain program goes on; the fast exit ends the process in run_program
"""


def _fake_templates(directory: Path) -> None:
    """Stand-ins for the ZenML and MLflow templates, with just what seeding a home writes to: building
    real ones takes seconds and is tested in test_store_templates.py."""
    from importlib.metadata import version

    directory.mkdir()
    with sqlite3.connect(directory / f"zenml-{version('zenml')}-activated.db") as db:
        db.execute("CREATE TABLE server_settings (id TEXT, updated TEXT, last_user_activity TEXT, active INT)")
        db.execute("CREATE TABLE user (id TEXT, created TEXT, updated TEXT)")
    db.close()
    sqlite3.connect(directory / f"mlflow-{version('mlflow')}.db").close()


def _env(tmp_path: Path, mode: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, **ZENML_ENV_DEFAULTS, speed.SWITCH: MODES[mode], **extra}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


@pytest.mark.parametrize("mode", MODES)
def test_the_facade_does_nothing_when_off_and_acts_when_on(tmp_path, mode):
    templates = tmp_path / "templates"
    _fake_templates(templates)
    home = tmp_path / "zenml"
    home.mkdir()
    env = _env(tmp_path, mode, ZENML_CONFIG_PATH=str(home), ZENML_REPOSITORY_PATH=str(home),
               OLIST_STORE_TEMPLATES=str(templates), OLIST_RESIDENT_DIR=str(tmp_path / "no-runner"))  # fmt: skip
    env.pop("OLIST_RESIDENT", None)  # no runner listens there: the call runs in this process
    result = subprocess.run([sys.executable, "-c", _FACADE, str(tmp_path / "mlflow.db")],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    seen = json.loads(next(line for line in lines if line.startswith("{")))
    on = mode == "on"
    assert seen["memoized"] is on
    assert seen["kept_bytes"] == seen["handoff_bytes"] == (100 if on else 0)
    assert seen["preloaded"] is on
    assert seen["zenml_stores"] == (["zenml.db"] if on else [])
    assert seen["mlflow_store"] is on
    assert seen["gc_held"] is on and seen["gc_after_settle"] is True and seen["frozen"] is on
    assert ("run_program returned" in lines) is not on  # off: the interpreter's usual exit


@pytest.mark.parametrize("mode", MODES)
def test_the_cli_runs_and_asks_the_resident_runner_only_when_on(tmp_path, mode):
    """`OLIST_RESIDENT=require` fails a call the runner cannot take; switched off, no runner is asked."""
    command = [sys.executable, "-m", "olist_pipeline", "--cfg", "job"]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/",
                           env=_env(tmp_path, mode, OLIST_RESIDENT="off"))  # fmt: skip
    assert plain.returncode == 0 and "pipeline:" in plain.stdout, plain.stderr[-3000:]
    require = _env(tmp_path, mode, OLIST_RESIDENT="require", OLIST_RESIDENT_DIR=str(tmp_path / "no-runner"))
    asked = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/", env=require)
    if mode == "on":
        assert asked.returncode == 2 and "no resident runner is listening" in asked.stderr
    else:
        assert asked.returncode == 0 and asked.stdout == plain.stdout, asked.stderr[-3000:]
