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


def still_valid(record: dict[str, Any], zenml_config_path: str, mlflow_tracking_uri: str) -> bool:
    """True when the local stores still hold the recorded runs and the champion is unchanged."""
    if not mlflow_tracking_uri.startswith("sqlite:///"):
        return False
    zenml_db = Path(zenml_config_path) / ZENML_LOCAL_DB
    mlflow_db = Path(mlflow_tracking_uri.removeprefix("sqlite:///"))
    if not (zenml_db.is_file() and mlflow_db.is_file()):
        return False
    try:
        run = _query(zenml_db, "SELECT status FROM pipeline_run WHERE id = ?", (record["zenml_run_id"].replace("-", ""),))
        mlflow_run = _query(mlflow_db, "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (record["mlflow_run_id"],))
        champion = production_version(zenml_db, record["model_name"])
    except (sqlite3.Error, KeyError, AttributeError):
        return False
    return (
        run == [("completed",)]
        and mlflow_run == [("active",)]
        and champion == record.get("production_after")
    )
