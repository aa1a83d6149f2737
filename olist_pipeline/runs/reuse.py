"""Identical re-runs: answer from the run that already did the work, without starting ZenML.

A training run is identified by everything that determines its outcome: the composed config, the
input's sha256, the code of this package and the versions of the libraries that compute or record
it. After a completed run the runner records its results under that key. A later run with the same
key is answered from the record (as `make` and `dvc repro` skip an up-to-date target), in well under a
second instead of paying ZenML's and MLflow's start-up for a run whose every step would be cached.

The record is only trusted while what it points at is still true (`stack.store_reads.still_valid`,
read-only in the local SQLite stores): the ZenML run still exists and completed, its MLflow run is
still active, and the production model version is the one the gate left in place (the gate's outcome
depends on the champion, so a changed champion means the run is not identical any more). Anything
else (a server stack, a store that cannot be read, a schema this code does not know) is a miss and
the pipeline runs as usual. `pipeline.reuse_identical_run=false` or `enable_cache=false` always runs it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from olist_pipeline.paths import PACKAGE_DIR

#: Libraries whose version changes what a run computes or records.
LIBRARIES = ("zenml", "mlflow", "scikit-learn", "pandas", "numpy", "pandera", "pyarrow", "skops", "hydra-core")


@functools.cache
def code_fingerprint() -> str:
    """sha256 over this package's Python sources and the versions of the libraries in `LIBRARIES`."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    for name in LIBRARIES:
        try:
            digest.update(f"{name}=={version(name)}".encode())
        except PackageNotFoundError:
            digest.update(f"{name} absent".encode())
    return digest.hexdigest()


def run_key(config_yaml: str, data_sha256: str) -> str:
    """The identity of a training run: composed config + input bytes + code and library versions."""
    text = "\n".join([config_yaml, data_sha256, code_fingerprint()])
    return hashlib.sha256(text.encode()).hexdigest()


def record_path(state_dir: str | Path, key: str) -> Path:
    return Path(state_dir) / "reuse" / f"{key}.json"


def save(state_dir: str | Path, key: str, record: dict[str, Any]) -> Path:
    """Write the record atomically: a reader sees the whole record or none."""
    path = record_path(state_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def load(state_dir: str | Path, key: str) -> dict[str, Any] | None:
    """The record of an earlier identical run, or None (absent or unreadable: the pipeline runs)."""
    try:
        return json.loads(record_path(state_dir, key).read_text())
    except (OSError, ValueError):
        return None
