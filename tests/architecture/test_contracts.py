"""The architecture rules (pyproject.toml's import-linter contracts) hold for the tree, and each one
fails when the rule it states is broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture.contracts import scan

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={"PATH": str(LINT.parent), "PYTHONPATH": str(root)})  # fmt: skip


def test_the_tree_keeps_every_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The package, the plugin, the contracts and pyproject.toml in a scratch folder to break."""
    root = tmp_path_factory.mktemp("tree")
    for name in ("olist_pipeline", "hydra_plugins", "tests/architecture", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, root / name)
    (root / "tests" / "__init__.py").touch()
    return root


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("olist_pipeline/domain/metrics.py", "from olist_pipeline.stack import registry", "Data flows one way"),
        ("olist_pipeline/steps/split.py", "from olist_pipeline.runs import common", "Data flows one way"),
        ("olist_pipeline/speed/gc_probe.py", "from olist_pipeline.stack import infra", "Data flows one way"),
        ("olist_pipeline/domain/cleaning.py", "import mlflow", "The domain is pure"),
        ("olist_pipeline/domain/cleaning.py", "from olist_pipeline import speed", "The domain is pure"),
        ("olist_pipeline/app/console.py", "from olist_pipeline.app import sweep", "No import cycles"),
        ("olist_pipeline/app/console.py", "from hydra._internal.utils import get_args_parser", "private APIs"),
        ("olist_pipeline/runs/common.py", "import threading\nthreading._shutdown()", "private APIs"),
        ("olist_pipeline/app/cli.py", "import importlib.metadata\nimportlib.metadata.version = len", "private APIs"),
    ],
)
def test_each_contract_fails_when_its_rule_is_broken(copy, module, line, broken):
    path = copy / module
    before = path.read_text() if path.exists() else None
    path.write_text((before or "") + f"\n{line}  # noqa\n")
    try:
        result = lint(copy)
    finally:
        if before is None:
            path.unlink()
        else:
            path.write_text(before)
    assert result.returncode != 0
    broken_lines = [l for l in result.stdout.splitlines() if "BROKEN" in l or broken in l]
    assert any(broken in l for l in broken_lines), result.stdout


def test_the_private_api_scan_sees_imports_attributes_and_patches(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "import os, threading\n"
        "import importlib.metadata\n"
        "from pandas.io._util import arrow_table_to_pandas\n"
        "from skops.io import _trusted_types\n"
        "from olist_pipeline.domain import _private_is_ours\n"
        "os._exit(0)\n"
        "threading._shutdown()\n"
        "importlib.metadata.packages_distributions = dict\n"
        "self_thing = object()\nself_thing._fine = 1\n"
    )
    problems = [p for _, p in scan(source, {"olist_pipeline"}, {"os._exit"})]
    assert problems == [
        "imports the private name pandas.io._util.arrow_table_to_pandas",
        "imports the private name skops.io._trusted_types",
        "uses the private attribute threading._shutdown",
        "patches importlib.metadata.packages_distributions (assigns to another package's attribute)",
    ]
