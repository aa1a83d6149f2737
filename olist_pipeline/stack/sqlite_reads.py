"""An interrupted read must not hold a local store's lock: cursors close when their connection is returned.

A Ctrl-C (KeyboardInterrupt) can land while ZenML or MLflow is turning a query's rows into objects: the
SELECT has started, not all its rows are read, and the traceback still references the cursor. The session
ends and SQLAlchemy returns the connection to its pool with that statement open, and an open SQLite read
holds a shared lock until the statement is reset. Every later commit to the store from another pooled
connection then waits out the busy timeout (ZenML's: 60 s) and fails -- ZenML's own "mark the step and the
run failed" among them, so an interrupted run hung for minutes before it ended, its run still "running"
(seen in CI; `tests/e2e/test_interrupts.py` reproduces it).

A returned connection has no legitimate open results, so SQLAlchemy's pool `reset` event (run on every
return) closes the cursors opened on it since checkout; closing a cursor resets its statement. No
ZenML or MLflow import: this works on SQLAlchemy, which both use.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

_OPEN = "olist_open_cursors"


def _track(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if conn.dialect.name == "sqlite":
        conn.info.setdefault(_OPEN, weakref.WeakSet()).add(cursor)


def _close_cursors(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    cursors = connection_record.info.pop(_OPEN, None) if connection_record is not None else None
    for cursor in list(cursors or ()):
        try:
            cursor.close()
        except Exception:  # noqa: BLE001 - its connection is already closed: nothing left to release
            pass


def install() -> None:
    """Track SQLite cursors and close them when their connection goes back to its pool (idempotent)."""
    if not event.contains(Engine, "before_cursor_execute", _track):
        event.listen(Engine, "before_cursor_execute", _track)
        event.listen(Pool, "reset", _close_cursors)
