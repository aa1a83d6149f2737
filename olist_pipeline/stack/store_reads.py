"""Read-only answers from the local SQLite stores without importing ZenML or MLflow (well under a second
instead of their start-up): is a recorded run still there, which version is in production.

This reads ZenML's and MLflow's own tables (`pipeline_run`, `model`, `model_version`, `runs`), which are
not a public API: a schema this code does not know reads as "not valid", never as a wrong answer (every
caller then runs the pipeline as usual). Used by the identical-run record (runs/reuse.py);
docs/performance.md lists it among the library internals the project relies on.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

#: Relative to the ZenML config path: where ZenML keeps its default local SQLite store.
ZENML_LOCAL_DB = Path("local_stores") / "default_zen_store" / "zenml.db"


def _query(db: Path, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    # Read-only URI: never creates or migrates a store, never takes a write lock.
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as connection:
        return connection.execute(sql, args).fetchall()


def production_version(zenml_db: Path, model_name: str) -> int | None:
    """The ZenML model version in stage `production`, read from the local store."""
    rows = _query(
        zenml_db,
        "SELECT mv.number FROM model_version mv JOIN model m ON mv.model_id = m.id "
        "WHERE m.name = ? AND mv.stage = 'production'",
        (model_name,),
    )
    return int(rows[0][0]) if rows else None


def _local_dbs(zenml_config_path: str, mlflow_tracking_uri: str) -> tuple[Path, Path] | None:
    """The local SQLite files of both stores, or None (a server, or a store not created yet)."""
    if not mlflow_tracking_uri.startswith("sqlite:///"):
        return None
    zenml_db = Path(zenml_config_path) / ZENML_LOCAL_DB
    mlflow_db = Path(mlflow_tracking_uri.removeprefix("sqlite:///"))
    return (zenml_db, mlflow_db) if zenml_db.is_file() and mlflow_db.is_file() else None


def _runs_there(zenml_db: Path, mlflow_db: Path, zenml_run_id: str, mlflow_run_id: str) -> bool:
    run = _query(zenml_db, "SELECT status FROM pipeline_run WHERE id = ?", (zenml_run_id.replace("-", ""),))
    mlflow_run = _query(mlflow_db, "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (mlflow_run_id,))
    return run == [("completed",)] and mlflow_run == [("active",)]


def runs_exist(zenml_run_id: str, mlflow_run_id: str, zenml_config_path: str, mlflow_tracking_uri: str) -> bool | None:
    """Does the ZenML run still exist, completed, and its MLflow run too (not deleted)? None when the
    stores cannot be read here (a server stack): the caller decides what an unknown answer means."""
    if not mlflow_tracking_uri.startswith("sqlite:///"):
        return None
    dbs = _local_dbs(zenml_config_path, mlflow_tracking_uri)
    if dbs is None:  # local stores that are gone (make clean-state) hold no runs
        return False
    try:
        return _runs_there(*dbs, zenml_run_id, mlflow_run_id)
    except sqlite3.Error:
        return None


def still_valid(record: dict[str, Any], zenml_config_path: str, mlflow_tracking_uri: str) -> bool:
    """True when the local stores still hold the recorded runs and the champion is unchanged."""
    dbs = _local_dbs(zenml_config_path, mlflow_tracking_uri)
    if dbs is None:
        return False
    try:
        there = _runs_there(*dbs, record["zenml_run_id"], record["mlflow_run_id"])
        champion = production_version(dbs[0], record["model_name"])
    except (sqlite3.Error, KeyError, AttributeError):
        return False
    return there and champion == record.get("production_after")
