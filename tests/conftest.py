"""Shared fixtures. End-to-end tests run the real CLI / ZenML pipeline / MLflow tracker against an
isolated state folder (ZenML store + repository, MLflow store, artifacts) under pytest's tmp dir."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from olist_pipeline.paths import PROJECT_ROOT

REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "olist"
SAMPLE = PROJECT_ROOT / "data" / "olist_sample.csv.gz"

os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("AUTO_OPEN_DASHBOARD", "false")
# A resident runner a developer left running must not take the suite's calls (tests/speed/test_resident.py
# starts its own and asks for it explicitly).
os.environ["OLIST_RESIDENT"] = "off"
# New homes start from store templates (olist_pipeline/speed/store_templates.py) built once per session in a
# directory of the suite's own, never the user's cache.
os.environ["OLIST_STORE_TEMPLATES"] = tempfile.mkdtemp(prefix="olist-test-store-templates-")
atexit.register(shutil.rmtree, os.environ["OLIST_STORE_TEMPLATES"], ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs real ZenML pipelines (end to end); deselect with -m 'not slow'")
    config.addinivalue_line("markers", "real_data: needs ../shared/data/olist (skipped when absent)")


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One isolated ZenML/MLflow home for the whole session (steps cache across tests, as for a user)."""
    return tmp_path_factory.mktemp("olist_state")


def cli(*overrides: str, state_dir: Path | None = None, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run `python -m olist_pipeline` as a user would, from an unrelated working directory."""
    args = [sys.executable, "-m", "olist_pipeline", *overrides]
    if state_dir is not None:
        args.append(f"paths.state_dir={state_dir}")
    full_env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "COLUMNS": "200", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd="/", env=full_env)


def summary_metrics(stdout: str) -> dict[str, str]:
    """The test metrics of a run's printed summary table, as printed."""
    return dict(re.findall(r"│ (rmse|mae|r2|low_score_recall)\s+│ ([0-9.]+) │", stdout))


def load_script(name: str):
    """A module of scripts/ (not a package), loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while a class is created
    spec.loader.exec_module(module)
    return module


def real_file(*parts: str) -> Path:
    """A file of the real Olist data, or skip the test with the reason."""
    path = REAL_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real Olist data not available at {path} (see README: Real data)")
    return path
