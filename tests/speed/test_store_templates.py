"""New homes start from pre-migrated store templates: built once, atomically, never shared identities."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from olist_pipeline.speed import store_templates
from tests.conftest import SAMPLE, cli, summary_metrics


def _make_db(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
    db.close()


def test_a_template_is_built_once_and_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("OLIST_STORE_TEMPLATES", str(tmp_path / "cache"))
    built: list[Path] = []

    def build(path: Path) -> None:
        built.append(path)
        _make_db(path)

    first = store_templates._template("x.db", build)
    second = store_templates._template("x.db", build)
    assert first == second == tmp_path / "cache" / "x.db"
    assert len(built) == 1 and built[0] != first  # built aside, then renamed into place
    assert os.listdir(tmp_path / "cache") == ["x.db"]


def test_a_failed_build_leaves_no_template(tmp_path, monkeypatch):
    monkeypatch.setenv("OLIST_STORE_TEMPLATES", str(tmp_path))

    def build(path: Path) -> None:
        _make_db(path)
        raise RuntimeError("migration failed")

    with pytest.raises(RuntimeError, match="migration failed"):
        store_templates._template("x.db", build)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("setting", ["off", "/proc/no-such-cache"])
def test_templates_off_or_unwritable_mean_the_usual_creation(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("OLIST_STORE_TEMPLATES", setting)
    assert store_templates._template("x.db", _make_db) is None
    assert store_templates.seed_mlflow_store(f"sqlite:///{tmp_path}/mlflow.db") is False
    assert not (tmp_path / "mlflow.db").exists()


def test_seeding_never_replaces_a_store(tmp_path):
    template, target = tmp_path / "template.db", tmp_path / "home" / "store.db"
    _make_db(template)
    target.parent.mkdir()
    target.write_text("a store another process created")
    assert store_templates._seed(template, target) is False
    assert target.read_text() == "a store another process created"

    # created between our check and our link: the other process's store stays
    target.unlink()

    def racing(db: sqlite3.Connection) -> None:
        target.write_text("created meanwhile")

    assert store_templates._seed(template, target, racing) is False
    assert target.read_text() == "created meanwhile"
    assert sorted(os.listdir(target.parent)) == ["store.db"]  # no scratch copy left behind

    target.unlink()
    assert store_templates._seed(template, target) is True
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT x FROM t").fetchall() == [(1,)]
    db.close()


@pytest.mark.slow
def test_a_seeded_mlflow_store_is_a_complete_new_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("OLIST_STORE_TEMPLATES", str(tmp_path / "cache"))
    uris = [f"sqlite:///{tmp_path}/{name}/mlflow.db" for name in ("a", "b")]
    for uri in uris:
        Path(uri.removeprefix("sqlite:///")).parent.mkdir()
        assert store_templates.seed_mlflow_store(uri) is True
        assert store_templates.seed_mlflow_store(uri) is False  # the store exists now
        client = MlflowClient(tracking_uri=uri)  # MLflow checks the schema revision is its head
        assert client.get_experiment("0").name == "Default"
        experiment = client.create_experiment("olist", artifact_location=(tmp_path / "artifacts").as_uri())
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "rmse", 1.0)
        assert client.get_run(run.info.run_id).data.metrics == {"rmse": 1.0}
    # the template itself stays empty
    with sqlite3.connect(tmp_path / "cache" / os.listdir(tmp_path / "cache")[0]) as db:
        assert db.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)
    db.close()


_OPEN_HOME = """
import json, os, sys
from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config
from olist_pipeline.stack.infra import configure_environment, provision
spec, _, _ = compose_spec(compose_config(["+env=dev", "paths.state_dir=" + sys.argv[1]]))
configure_environment(spec.stack)
from zenml.zen_stores.sql_zen_store import SqlZenStore
checks = []
migrate = SqlZenStore.migrate_database
def counted(self):
    checks.append(1)
    return migrate(self)
SqlZenStore.migrate_database = counted
provision(spec.stack)
assert "DISABLE_DATABASE_MIGRATION" not in os.environ  # only for the store's opening
from zenml.client import Client
from zenml.config.global_config import GlobalConfiguration
client = Client()
print(json.dumps({
    "server_id": str(client.zen_store.get_store_info().id),
    "user_id": str(GlobalConfiguration().user_id),
    "user": str(client.active_user.id),
    "user_name": client.active_user.name,
    "users": client.list_users().total,
    "active": client.zen_store.get_server_settings().active,
    "migration_checks": len(checks),
    "stack": client.active_stack_model.name,
    "flavors": sorted((f.type, f.name) for f in client.list_flavors(size=1000)),
}))
"""


def _open_home(state_dir: Path, templates: str, **extra_env: str) -> dict:
    env = {**os.environ, "OLIST_STORE_TEMPLATES": templates, **extra_env}
    out = subprocess.run([sys.executable, "-c", _OPEN_HOME, str(state_dir)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_seeded_zenml_homes_have_their_own_identity_and_all_flavors(tmp_path):
    cache = tmp_path / "cache"
    a, b = (_open_home(tmp_path / name, str(cache)) for name in ("a", "b"))
    usual = _open_home(tmp_path / "usual", "off")
    (template,) = cache.glob("zenml-*.db")
    with contextlib.closing(sqlite3.connect(template)) as db:
        # activated, with ZenML's default user: a new home does not hash a password (0.25 s)
        assert db.execute("SELECT active FROM server_settings").fetchall() == [(1,)]
        assert db.execute("SELECT name FROM user").fetchall() == [("default",)]
    assert (tmp_path / "a" / "zenml" / "local_stores" / "default_zen_store" / "zenml.db").exists()
    for home in (a, b):
        assert home["server_id"] == home["user_id"]  # as ZenML itself sets up a local store
        assert home["stack"] == "olist_local"
        assert home["flavors"] == usual["flavors"]
    assert len({a["server_id"], b["server_id"], usual["server_id"]}) == 3
    assert len({a["user"], b["user"], usual["user"]}) == 3  # the template's default user gets a new id per home
    for home in (a, b, usual):
        assert (home["user_name"], home["users"], home["active"]) == ("default", 1, True)
    # A store at the template's revision is opened without ZenML's migration check (a's one check is
    # ZenML creating the template); without templates, ZenML checks (and creates the store).
    assert (a["migration_checks"], b["migration_checks"], usual["migration_checks"]) == (1, 0, 1)
    again = _open_home(tmp_path / "a", str(cache))
    assert again["migration_checks"] == 0 and again["user"] == a["user"] and again["stack"] == "olist_local"
    # Another default user asked for: the copy is not activated, ZenML creates that user itself.
    other = _open_home(tmp_path / "other", str(cache), ZENML_DEFAULT_USER_NAME="alice")
    assert (other["user_name"], other["users"], other["active"]) == ("alice", 1, True)
    assert other["server_id"] == other["user_id"] and other["flavors"] == usual["flavors"]



@pytest.mark.slow
def test_a_run_in_a_seeded_home_is_the_same_run(tmp_path):
    run = ("+env=dev", "evaluation.report=false", f"dataset.path={SAMPLE}")
    seeded = cli(*run, state_dir=tmp_path / "seeded")
    usual = cli(*run, state_dir=tmp_path / "usual", env={"OLIST_STORE_TEMPLATES": "off"})
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    assert usual.returncode == 0, usual.stderr[-3000:]
    assert summary_metrics(seeded.stdout) == summary_metrics(usual.stdout) != {}
    assert "promoted" in seeded.stdout
    # and the seeded home's next run is served from ZenML's cache like any home's
    again = cli(*run, "pipeline.reuse_identical_run=false", state_dir=tmp_path / "seeded")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "cached steps all" in again.stdout


def test_the_migration_check_is_skipped_only_for_a_store_at_the_templates_revision(tmp_path, monkeypatch):
    monkeypatch.setenv("OLIST_STORE_TEMPLATES", str(tmp_path / "cache"))
    monkeypatch.delenv(store_templates.ZENML_SKIP_MIGRATION_ENV, raising=False)

    def store_at(path: Path, revision: str) -> Path:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)")
            db.execute("DELETE FROM alembic_version")
            db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        return path

    home = store_at(tmp_path / "home.db", "0.98.0")
    with store_templates.skip_migration_check_if_current(home) as skip:  # no template built yet
        assert not skip and store_templates.ZENML_SKIP_MIGRATION_ENV not in os.environ
    import zenml

    (tmp_path / "cache").mkdir()
    store_at(tmp_path / "cache" / f"zenml-{zenml.__version__}-activated.db", "0.98.0")  # "built"
    assert store_templates.zenml_template(build=False) is not None
    with store_templates.skip_migration_check_if_current(home) as skip:
        assert skip and os.environ[store_templates.ZENML_SKIP_MIGRATION_ENV] == "true"
    assert store_templates.ZENML_SKIP_MIGRATION_ENV not in os.environ
    for other in (store_at(tmp_path / "old.db", "0.97.0"), tmp_path / "missing.db", tmp_path / "not-a-store.db"):
        if other.name == "not-a-store.db":
            other.write_text("not sqlite")
        with store_templates.skip_migration_check_if_current(other) as skip:
            assert not skip and store_templates.ZENML_SKIP_MIGRATION_ENV not in os.environ
    monkeypatch.setenv("OLIST_STORE_TEMPLATES", "off")
    with store_templates.skip_migration_check_if_current(home) as skip:
        assert not skip
