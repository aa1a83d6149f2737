"""`+env=prod` on real servers: `scripts/services.py up` starts MariaDB, PostgreSQL, S3 (moto), the ZenML
server and the MLflow server on loopback; the same code path as dev then records the run in MariaDB
(through the ZenML server), the MLflow run in PostgreSQL and the artifacts in S3. Stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from olist_pipeline.stack.infra import read_env_file
from olist_pipeline.paths import PROJECT_ROOT

from tests.conftest import cli

SERVICES = [sys.executable, str(PROJECT_ROOT / "scripts" / "services.py")]


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_service_that_is_down_fails_the_run_in_seconds(tmp_path):
    """No services needed: nothing listens on port 1, so the health check must fail, naming it."""
    env_file = tmp_path / ".env"
    env_file.write_text("OLIST_ZENML_USERNAME=u\nOLIST_ZENML_PASSWORD=p\n")
    started = time.monotonic()
    result = cli("+env=prod", "stack.services.zenml.port=1", state_dir=tmp_path, env={"OLIST_ENV_FILE": str(env_file)})
    elapsed = time.monotonic() - started
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert _error_lines(result) == [
        "error: ZenML server at http://127.0.0.1:1/health is not reachable ([Errno 111] Connection refused); "
        "start the services with `make services-up`"
    ]
    assert elapsed < 30, f"took {elapsed:.1f} s"  # no client retry loop (the budget is ~10 s; see BENCHMARKS)


def test_missing_credential_is_named(tmp_path):
    result = cli("+env=prod", state_dir=tmp_path, env={"OLIST_ENV_FILE": str(tmp_path / "absent.env")})
    assert result.returncode != 0
    assert _error_lines(result)[0].startswith("error: credential OLIST_ZENML_USERNAME is not set")


@pytest.fixture(scope="module")
def services():
    """The server stack's services under a fresh data folder (reachable by the postgres user)."""
    root = Path(tempfile.mkdtemp(prefix="olist-services-", dir="/tmp"))
    root.chmod(0o755)
    env = {**os.environ, "OLIST_ENV_FILE": str(root / ".env"), "ZENML_ANALYTICS_OPT_IN": "false"}
    args = [f"paths.state_dir={root}"]
    up = subprocess.run([*SERVICES, "up", *args], env=env, capture_output=True, text=True, timeout=900)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield {"root": root, "env": env, "args": args, "up": up.stdout, "credentials": read_env_file(root / ".env")}
    finally:
        subprocess.run([*SERVICES, "down", *args], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(root, ignore_errors=True)



@pytest.mark.slow
def test_services_up_is_idempotent_and_status_is_healthy(services):
    for name in ("MariaDB", "PostgreSQL", "S3 (moto)", "ZenML server", "MLflow server"):
        assert re.search(rf"^{re.escape(name)}\s+(started|already up)", services["up"], re.M), services["up"]
    again = subprocess.run([*SERVICES, "up", *services["args"]], env=services["env"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("already up") == 5, again.stdout
    status = subprocess.run([*SERVICES, "status", *services["args"]], env=services["env"], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and status.stdout.count("healthy") == 5, status.stdout
    assert (services["root"] / ".env").stat().st_mode & 0o077 == 0  # credentials readable by the owner only


@pytest.fixture(scope="module")
def prod_run(services):
    result = cli("+env=prod", state_dir=services["root"], env={"OLIST_ENV_FILE": services["env"]["OLIST_ENV_FILE"]})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result.stdout


def _field(stdout: str, label: str) -> str:
    return re.search(rf"^{label}\s+(\S+)", stdout, re.M).group(1)


@pytest.mark.slow
def test_prod_run_lands_on_the_servers(services, prod_run):
    import boto3
    import psycopg2
    import pymysql

    creds = services["credentials"]
    zenml_run_id = _field(prod_run, "zenml run")
    mlflow_run_id = _field(prod_run, "mlflow run")
    assert re.search(r"^MLflow UI\s+open http://127.0.0.1:15000", prod_run, re.M)
    # the MLflow run is a row of the MLflow server's PostgreSQL database
    with psycopg2.connect(host="127.0.0.1", port=15432, dbname="mlflow", user=creds["OLIST_POSTGRES_USER"],
                          password=creds["OLIST_POSTGRES_PASSWORD"]) as pg, pg.cursor() as cur:  # fmt: skip
        cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (mlflow_run_id,))
        assert cur.fetchone() == ("FINISHED",)
        cur.execute("SELECT name FROM registered_models")
        assert ("olist_review_score",) in cur.fetchall()
    # the model's files are objects in the S3 bucket (through the MLflow server's artifact proxy)
    s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:19000", region_name="us-east-1",
                      aws_access_key_id=creds["OLIST_S3_ACCESS_KEY_ID"],
                      aws_secret_access_key=creds["OLIST_S3_SECRET_ACCESS_KEY"])  # fmt: skip
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="olist-artifacts") for o in page.get("Contents", [])]
    assert any(k.startswith("mlflow/") and k.endswith("/MLmodel") for k in keys), keys[:20]
    assert any(k.startswith("zenml/") for k in keys)  # ZenML's own artifact store on the same endpoint
    # the ZenML run is a row of the ZenML server's MariaDB database ...
    connection = pymysql.connect(host="127.0.0.1", port=13306, database="zenml", user=creds["OLIST_MARIADB_USER"],
                                 password=creds["OLIST_MARIADB_PASSWORD"])  # fmt: skip
    with connection, connection.cursor() as cur:
        cur.execute("SELECT status FROM pipeline_run WHERE id = %s", (zenml_run_id.replace("-", ""),))
        assert cur.fetchone() == ("completed",)
    # ... and visible through the ZenML server's API (what its dashboard reads)
    login = urllib.request.Request(
        "http://127.0.0.1:18237/api/v1/login",
        data=urllib.parse.urlencode({"username": creds["OLIST_ZENML_USERNAME"], "password": creds["OLIST_ZENML_PASSWORD"]}).encode(),
    )
    token = json.loads(urllib.request.urlopen(login, timeout=10).read())["access_token"]
    request = urllib.request.Request(f"http://127.0.0.1:18237/api/v1/runs/{zenml_run_id}", headers={"Authorization": f"Bearer {token}"})
    run = json.loads(urllib.request.urlopen(request, timeout=10).read())
    assert run["body"]["status"] == "completed"


@pytest.mark.slow
def test_prod_lineage_reads_both_servers(services, prod_run):
    result = cli("+env=prod", "pipeline=lineage", "model_version=production", state_dir=services["root"],
                 env={"OLIST_ENV_FILE": services["env"]["OLIST_ENV_FILE"]})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "olist_review_score v1 (stage production)" in result.stdout
    assert re.search(r"^mlflow version\s+olist_review_score version 1 aliases=\['champion'\]", result.stdout, re.M)


@pytest.mark.slow
def test_wrong_password_fails_in_seconds_naming_the_server(services, prod_run):
    started = time.monotonic()
    result = cli("+env=prod", state_dir=services["root"],
                 env={"OLIST_ENV_FILE": services["env"]["OLIST_ENV_FILE"], "OLIST_ZENML_PASSWORD": "not-the-password"})  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert _error_lines(result) == [
        "error: ZenML server at http://127.0.0.1:18237 rejected the credentials in "
        "OLIST_ZENML_USERNAME/OLIST_ZENML_PASSWORD: Authentication error: invalid username or password"
    ]
    assert elapsed < 30, f"took {elapsed:.1f} s"


@pytest.mark.slow
def test_prod_sweep_with_forked_jobs(services):
    """`hydra/launcher=olist_fork` on the server stack: the sweep's process holds keep-alive connections to
    the ZenML and MLflow servers when it forks; each job opens its own, both jobs land on the servers, and
    the driver closes the parent run afterwards over its own connection."""
    import psycopg2

    root = services["root"]
    result = cli("-m", "+env=prod", "hydra/launcher=olist_fork", "hydra.launcher.n_jobs=2", "promotion.enabled=false",
                 "evaluation.report=false", "model=linear_regression,ridge", f"hydra.sweep.dir={root / 'multirun'}",
                 state_dir=root, env={"OLIST_ENV_FILE": services["env"]["OLIST_ENV_FILE"]})  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "cannot fork" not in result.stderr  # the jobs really ran in forked processes
    summary = (root / "multirun" / "summary.csv").read_text()
    assert summary.count(",completed,") == 2, summary
    creds = services["credentials"]
    with psycopg2.connect(host="127.0.0.1", port=15432, dbname="mlflow", user=creds["OLIST_POSTGRES_USER"],
                          password=creds["OLIST_POSTGRES_PASSWORD"]) as pg, pg.cursor() as cur:  # fmt: skip
        cur.execute("SELECT r.run_uuid, r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                    "WHERE t.key = 'olist.sweep' AND t.value = 'parent' AND r.start_time = "
                    "(SELECT max(start_time) FROM runs r2 JOIN tags t2 ON t2.run_uuid = r2.run_uuid "
                    "WHERE t2.key = 'olist.sweep' AND t2.value = 'parent')")  # fmt: skip
        parent, status = cur.fetchone()
        assert status == "FINISHED"
        cur.execute("SELECT r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                    "WHERE t.key = 'mlflow.parentRunId' AND t.value = %s", (parent,))  # fmt: skip
        assert sorted(cur.fetchall()) == [("FINISHED",), ("FINISHED",)]
