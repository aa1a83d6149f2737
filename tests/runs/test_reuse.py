"""The identical-run record (olist_pipeline/runs/reuse.py): its key, its atomic file, and the checks that
decide whether it may still answer. End to end (real stores): tests/e2e/test_end_to_end.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from olist_pipeline.runs import reuse
from olist_pipeline.stack import store_reads

RECORD = {"zenml_run_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "mlflow_run_id": "abc", "model_name": "m", "production_after": 3}


def test_key_changes_with_config_data_and_code(monkeypatch):
    key = reuse.run_key("model: ridge\n", "0" * 64)
    assert key == reuse.run_key("model: ridge\n", "0" * 64)
    assert key != reuse.run_key("model: lasso\n", "0" * 64)
    assert key != reuse.run_key("model: ridge\n", "1" * 64)
    monkeypatch.setattr(reuse, "code_fingerprint", lambda: "other code")
    assert key != reuse.run_key("model: ridge\n", "0" * 64)


def test_code_fingerprint_covers_the_package_sources():
    fingerprint = reuse.code_fingerprint()
    assert len(fingerprint) == 64 and fingerprint == reuse.code_fingerprint()


def test_record_round_trip_and_unreadable_record(tmp_path):
    path = reuse.save(tmp_path, "k", RECORD)
    assert reuse.load(tmp_path, "k") == RECORD
    assert not list(path.parent.glob(".tmp-*"))  # written through a temporary file, then renamed
    path.write_text('{"zenml_run_id": ')  # truncated by hand: a miss, never an error
    assert reuse.load(tmp_path, "k") is None
    assert reuse.load(tmp_path, "absent") is None


def _stores(tmp_path: Path, run_status: str = "completed", stage: str | None = "production", lifecycle: str = "active"):
    """Minimal local stores with the columns the checks read (the real ones: the end-to-end tests)."""
    zenml_db = tmp_path / "zenml" / store_reads.ZENML_LOCAL_DB
    zenml_db.parent.mkdir(parents=True)
    with sqlite3.connect(zenml_db) as db:
        db.execute("CREATE TABLE pipeline_run (id TEXT, status TEXT)")
        db.execute("CREATE TABLE model (id TEXT, name TEXT)")
        db.execute("CREATE TABLE model_version (id TEXT, model_id TEXT, number INT, stage TEXT)")
        db.execute("INSERT INTO pipeline_run VALUES (?, ?)", (RECORD["zenml_run_id"].replace("-", ""), run_status))
        db.execute("INSERT INTO model VALUES ('m1', 'm')")
        db.execute("INSERT INTO model_version VALUES ('v3', 'm1', 3, ?)", (stage,))
    mlflow_db = tmp_path / "mlflow.db"
    with sqlite3.connect(mlflow_db) as db:
        db.execute("CREATE TABLE runs (run_uuid TEXT, lifecycle_stage TEXT)")
        db.execute("INSERT INTO runs VALUES ('abc', ?)", (lifecycle,))
    return str(tmp_path / "zenml"), f"sqlite:///{mlflow_db}"


def test_valid_while_runs_exist_and_the_champion_is_unchanged(tmp_path):
    assert store_reads.still_valid(RECORD, *_stores(tmp_path))


@pytest.mark.parametrize(
    "change",
    [{"run_status": "failed"}, {"stage": "archived"}, {"lifecycle": "deleted"}],
    ids=["run-not-completed", "champion-changed", "mlflow-run-deleted"],
)
def test_invalid_when_anything_it_points_at_changed(tmp_path, change):
    assert not store_reads.still_valid(RECORD, *_stores(tmp_path, **change))


def test_invalid_for_other_stores_and_unknown_schemas(tmp_path):
    zenml_path, mlflow_uri = _stores(tmp_path)
    assert not store_reads.still_valid(RECORD, zenml_path, "http://127.0.0.1:5000")  # a server: never trusted
    assert not store_reads.still_valid(RECORD, str(tmp_path / "nowhere"), mlflow_uri)
    with sqlite3.connect(Path(zenml_path) / store_reads.ZENML_LOCAL_DB) as db:
        db.execute("DROP TABLE model_version")
    assert not store_reads.still_valid(RECORD, zenml_path, mlflow_uri)  # schema not as expected: a miss
