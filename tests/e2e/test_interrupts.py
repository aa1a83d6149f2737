"""Ctrl-C ends a run promptly and leaves its stores consistent (olist_pipeline/stack/sqlite_reads.py).

The moment that used to hang: a KeyboardInterrupt while ZenML turns a query's rows into objects. It was
found by interrupting real runs at random times (about 1 in 50 hung for minutes) and is injected here at
that exact moment: during the `train` step, the next time ZenML's store loads a row.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import event

from olist_pipeline.stack import sqlite_reads
from olist_pipeline.paths import PROJECT_ROOT
from tests.conftest import cli, summary_metrics

RUN = ("+env=dev", "evaluation.report=false")

# A real run with one KeyboardInterrupt where a Ctrl-C can land: inside the train step, while SQLAlchemy
# builds ZenML objects from a SELECT's first row. `make bench` times how long such a run takes to end.
INTERRUPTED_RUN = PROJECT_ROOT / "scripts" / "interrupted_run.py"


@pytest.fixture
def guarded():
    """The guard installed, as a run installs it; removed afterwards unless it was there before."""
    before = event.contains(sqlalchemy.engine.Engine, "before_cursor_execute", sqlite_reads._track)
    sqlite_reads.install()
    yield
    if not before:
        event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", sqlite_reads._track)
        event.remove(sqlalchemy.pool.Pool, "reset", sqlite_reads._close_cursors)


def _half_read_then_interrupted(db: Path) -> list[object]:
    """A SELECT whose first row was read when a KeyboardInterrupt ended its connection's use."""
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    kept: list[object] = []  # what a traceback keeps alive: the result, and with it the DB-API cursor
    try:
        with engine.connect() as connection:
            result = connection.exec_driver_sql("SELECT x FROM t")
            result.fetchone()
            kept.append(result)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    return kept


def _writes_within(db: Path, seconds: float) -> bool:
    writer = sqlite3.connect(db, timeout=seconds)
    try:
        writer.execute("INSERT INTO t VALUES (99)")
        writer.commit()
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        writer.close()


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "store.db"
    with sqlite3.connect(db) as setup:
        setup.execute("CREATE TABLE t (x)")
        setup.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    setup.close()
    return db


def test_a_returned_connection_keeps_no_half_read_statement_open(tmp_path, guarded):
    db = _store(tmp_path)
    kept = _half_read_then_interrupted(db)
    assert _writes_within(db, 0.5)
    assert kept  # the result is still referenced: its statement was closed, not garbage-collected


def test_without_it_the_half_read_statement_blocks_every_writer(tmp_path):
    """The failure the guard exists for, shown on SQLite itself (in a process without the guard)."""
    code = (
        "import sys; from pathlib import Path; from tests.e2e import test_interrupts as t\n"
        "db = Path(sys.argv[1]); kept = t._half_read_then_interrupted(db)\n"
        "print(t._writes_within(db, 0.5))"
    )
    db = _store(tmp_path)
    result = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


@pytest.mark.slow
def test_ctrl_c_during_a_store_read_ends_the_run_failed_and_the_next_run_trains(tmp_path):
    state = tmp_path / "state"
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false"}
    result = subprocess.run(
        [sys.executable, str(INTERRUPTED_RUN), *RUN, f"paths.state_dir={state}"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=300,
    )
    assert result.returncode == 130, result.stderr[-3000:]
    # A held store lock shows as this error (ZenML could not mark the run failed) and a run left "running".
    assert "database is locked" not in result.stdout + result.stderr

    zenml_db = next(state.rglob("zenml.db"))
    with sqlite3.connect(zenml_db) as db:
        assert db.execute("SELECT status FROM pipeline_run").fetchall() == [("failed",)]
        assert db.execute("SELECT status FROM step_run WHERE name = 'train'").fetchall() == [("failed",)]
    with sqlite3.connect(state / "mlflow" / "mlflow.db") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("FAILED",)]
        assert db.execute("SELECT count(*) FROM model_versions").fetchone() == (0,)

    again = cli(*RUN, state_dir=state)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary_metrics(again.stdout)["r2"]
    with sqlite3.connect(zenml_db) as db:
        statuses = db.execute("SELECT name, status FROM step_run WHERE name IN ('train', 'promote')").fetchall()
    assert sorted(statuses) == [("promote", "completed"), ("train", "completed"), ("train", "failed")]
