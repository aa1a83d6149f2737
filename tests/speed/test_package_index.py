"""The package-index memo (olist_pipeline/speed/package_index.py): one reading of the installed
distributions per process, shared by `importlib.metadata` (ZenML) and `importlib_metadata` (MLflow)."""

from __future__ import annotations

import subprocess
import sys


def test_the_package_index_is_read_once_and_shared_by_zenml_and_mlflow():
    """In a process of its own (the memo is process-wide): one reading serves both metadata modules."""
    code = """
import importlib.metadata, importlib_metadata
fresh_stdlib, fresh_backport = importlib.metadata.packages_distributions(), importlib_metadata.packages_distributions()
from olist_pipeline.speed import package_index
package_index.memoize(); package_index.memoize()
stdlib = importlib.metadata.packages_distributions()
first = importlib_metadata.packages_distributions()
first["mlflow.gateway"] = ["mlflow[gateway]"]  # as MLflow does with the dict it gets
second = importlib_metadata.packages_distributions()
info = importlib.metadata.packages_distributions.cache_info()
assert stdlib == fresh_stdlib and "mlflow.gateway" not in second
assert {k: v for k, v in fresh_backport.items() if k != "__pycache__"} == second
assert second["sklearn"] == ["scikit-learn"] and second["zenml"] == ["zenml"]
assert (info.misses, info.hits) == (1, 2), info
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_fill_reads_the_index_once_for_the_processes_forked_after():
    code = """
import importlib.metadata
from olist_pipeline.speed import package_index
package_index.fill()
info = importlib.metadata.packages_distributions.cache_info()
assert (info.misses, info.hits) == (1, 1), info
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
