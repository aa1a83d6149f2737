"""Pre-migrated, empty ZenML and MLflow SQLite stores: a new home starts from a copy.

A new local home otherwise pays, on its first run, for ZenML creating its schema and syncing ~80 flavor
rows (~1.9 s here), activating the store with its default user (a bcrypt hash of the empty password, 0.25 s)
and for MLflow running its Alembic migrations (~1.2 s). None of it depends on the home, only on the
installed ZenML / MLflow, so the first process that needs one builds a template with the libraries' own code
(`SqlZenStore(skip_default_registrations=True)`: migrations and flavors, no project or stack, then
`activate_server` with ZenML's default user; MLflow's table initialisation: no experiment) into a cache keyed
by their versions, and every new home gets a copy. The copy's ZenML server id is set to the home's own (what
ZenML itself writes) and its default user gets a new id, so no two homes share an identity; where
`ZENML_DEFAULT_USER_NAME` or `ZENML_DEFAULT_USER_PASSWORD` asks for another default user, the copy is left
unactivated and ZenML creates that user itself. The default project, stack and MLflow experiment are then
created by the libraries as usual.

Templates live in `$OLIST_STORE_TEMPLATES` (default `$XDG_CACHE_HOME/olist-pipeline/store-templates`);
`OLIST_STORE_TEMPLATES=off` turns them off. Templates and seeded stores appear atomically (written aside,
then renamed or hard-linked), so a crash never leaves a half-written store that a later run would take; if
the cache cannot be written the home is created the usual way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

OFF = "off"


def templates_dir() -> Path | None:
    """Where templates are kept, or None when turned off."""
    configured = os.environ.get("OLIST_STORE_TEMPLATES", "")
    if configured.lower() == OFF:
        return None
    if configured:
        return Path(configured)
    from olist_pipeline.speed.cache import user_cache_dir

    return user_cache_dir() / "store-templates"


@contextlib.contextmanager
def _aside(target: Path) -> Iterator[Path]:
    """A temporary file beside `target` that is removed afterwards unless it was moved into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.unlink(name)  # the libraries create the database file themselves
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _template(name: str, build: Callable[[Path], None] | None) -> Path | None:
    """The template `name` in the cache, built with `build(path)` if missing (`build` None: not built);
    None if off, unwritable or not built."""
    directory = templates_dir()
    if directory is None:
        return None
    path = directory / name
    if path.exists():
        return path
    if build is None:
        return None
    try:
        with _aside(path) as scratch:
            build(scratch)
            os.replace(scratch, path)  # atomic: a template is either complete or absent
    except OSError:
        return None
    return path


def _seed(template: Path | None, target: Path, adjust: Callable[[sqlite3.Connection], None] | None = None) -> bool:
    """Copy `template` to `target` if `target` does not exist yet; True if this call created it."""
    if template is None or target.exists():
        return False
    with _aside(target) as scratch:
        shutil.copyfile(template, scratch)
        if adjust is not None:
            with contextlib.closing(sqlite3.connect(scratch)) as db, db:
                adjust(db)
        try:
            os.link(scratch, target)  # never replaces a store another process created meanwhile
        except FileExistsError:
            return False
    return True


def _build_zenml(path: Path) -> None:
    from zenml.constants import DEFAULT_PASSWORD, DEFAULT_USERNAME
    from zenml.models import ServerActivationRequest
    from zenml.zen_stores.sql_zen_store import SqlZenStore, SqlZenStoreConfiguration

    store = SqlZenStore(config=SqlZenStoreConfiguration(url=f"sqlite:///{path}"), skip_default_registrations=True)
    try:
        # What a local store's first opening does (`_auto_activate_server`), with ZenML's own defaults.
        store.activate_server(ServerActivationRequest(admin_username=DEFAULT_USERNAME, admin_password=DEFAULT_PASSWORD))
    finally:
        store.engine.dispose()


#: Variables that make ZenML create another default user than the template's.
DEFAULT_USER_ENV = ("ZENML_DEFAULT_USER_NAME", "ZENML_DEFAULT_USER_PASSWORD")


def _build_mlflow(path: Path) -> None:
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def zenml_template(build: bool = True) -> Path | None:
    """The installed ZenML's template (built if missing and `build`), or None when templates are off or
    unwritable (or missing and not `build`)."""
    import zenml

    # "-activated": templates of earlier project versions (no default user) are not taken for these.
    return _template(f"zenml-{zenml.__version__}-activated.db", _build_zenml if build else None)


def _alembic_revisions(path: Path) -> set[str] | None:
    """The Alembic revisions a SQLite store is at, read without opening it for writing; None if unknown."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return {row[0] for row in db.execute("SELECT version_num FROM alembic_version")} or None
    except sqlite3.Error:
        return None


#: ZenML's own switch (`zenml.constants.ENV_ZENML_DISABLE_DATABASE_MIGRATION`) for a store's opening.
ZENML_SKIP_MIGRATION_ENV = "DISABLE_DATABASE_MIGRATION"


@contextlib.contextmanager
def skip_migration_check_if_current(store: Path) -> Iterator[bool]:
    """Within the block, ZenML opens the local store `store` without its migration check when the store
    is at the same Alembic revision as this ZenML's template (which ZenML itself migrated to its head).

    Every process's first opening of a store otherwise loads all of ZenML's ~200 migration scripts to
    find the store's revision among them and then finds nothing to do (0.35 s here). A store at any
    other revision (an older ZenML's home, one ZenML migrated since) is migrated by ZenML as usual; so is
    every store when templates are off or this ZenML's template is not built. Yields whether it skips.
    """
    template = zenml_template(build=False)
    current = template is not None and store.exists() and _alembic_revisions(store)
    skip = bool(current) and current == _alembic_revisions(template)
    if not skip or ZENML_SKIP_MIGRATION_ENV in os.environ:
        yield skip
        return
    os.environ[ZENML_SKIP_MIGRATION_ENV] = "true"
    try:
        yield skip
    finally:
        os.environ.pop(ZENML_SKIP_MIGRATION_ENV, None)


def mlflow_template() -> Path | None:
    """The installed MLflow's template (built if missing), or None when templates are off or unwritable."""
    import mlflow

    return _template(f"mlflow-{mlflow.__version__}.db", _build_mlflow)


def local_zenml_store() -> Path | None:
    """The SQLite file of the ZenML home in `ZENML_CONFIG_PATH`, or None if its store is not one."""
    from zenml.config.global_config import GlobalConfiguration

    url = str(GlobalConfiguration().store_configuration.url)
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def seed_zenml_home(target: Path) -> bool:
    """Seed `target`, the local store of the ZenML home in `ZENML_CONFIG_PATH` (`local_zenml_store`), if
    it does not exist yet.

    Must run before the store is first opened. True if the store was created from the template.
    """
    from zenml.config.global_config import GlobalConfiguration

    if target.exists():
        return False
    server_id = GlobalConfiguration().user_id.hex  # a local ZenML store's server id is its home's user id

    def own_identity(db: sqlite3.Connection) -> None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # ZenML's naive-UTC format
        db.execute("UPDATE server_settings SET id = ?, updated = ?, last_user_activity = ?", (server_id, now, now))
        if any(name in os.environ for name in DEFAULT_USER_ENV):
            # Another default user wanted: back to the state before activation; ZenML activates it itself.
            db.execute("DELETE FROM user")
            db.execute("UPDATE server_settings SET active = 0")
        else:
            db.execute("UPDATE user SET id = ?, created = ?, updated = ?", (uuid.uuid4().hex, now, now))

    return _seed(zenml_template(), target, own_identity)


def seed_mlflow_store(tracking_uri: str) -> bool:
    """Seed the MLflow SQLite store of `tracking_uri` if it does not exist yet; True if it was created."""
    if not tracking_uri.startswith("sqlite:///"):
        return False
    target = Path(tracking_uri.removeprefix("sqlite:///"))
    if target.exists():
        return False
    return _seed(mlflow_template(), target)


def main() -> int:
    """`python -m olist_pipeline.speed.store_templates`: build the templates now and print where they are."""
    if templates_dir() is None:
        print("store templates are off (OLIST_STORE_TEMPLATES=off)")
        return 0
    from olist_pipeline.environment import ZENML_ENV_DEFAULTS

    with tempfile.TemporaryDirectory(prefix="olist-store-templates-") as scratch:
        # Building opens a ZenML global configuration: a throwaway one, not the user's.
        os.environ.update({**ZENML_ENV_DEFAULTS, "ZENML_CONFIG_PATH": scratch, "ZENML_REPOSITORY_PATH": scratch})
        templates = {"ZenML": zenml_template(), "MLflow": mlflow_template()}
    for name, path in templates.items():
        print(f"{name}: {path if path else 'not built: ' + str(templates_dir()) + ' is not writable'}")
    return 0 if all(templates.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
