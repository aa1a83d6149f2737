"""Model lifecycle end to end, in its own isolated ZenML/MLflow home, through the real CLI:
train (promoted) -> serve -> HTTP predict on real rows -> bad requests -> CD with a better model
(promoted, redeployed) -> CD with a worse model (blocked, champion and server untouched) -> batch
inference -> lineage from both sides -> stop. The model server is the real `mlflow models serve`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from olist_pipeline.domain.data.io import load_table
from olist_pipeline.domain.data.olist import TARGET_AND_LEAKY_COLUMNS, validate_merged

from tests.conftest import REAL_DATA, SAMPLE, cli

pytestmark = pytest.mark.slow

# Its own model name in the session's store: a fresh registry, while the data steps come from cache.
MODEL = "lifecycle_test_model"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def home(state_dir: Path) -> Path:
    return state_dir


@pytest.fixture(scope="module")
def port() -> int:
    return _free_port()


def run(home: Path, port: int, *overrides: str) -> str:
    result = cli(
        "+env=dev", f"tracking.model_name={MODEL}", f"serving.port={port}", f"paths.output_dir={home}/outputs",
        *overrides, state_dir=home,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def clients(home: Path):
    # The same store as test_end_to_end's clients (one ZenML client per process).
    os.environ["ZENML_CONFIG_PATH"] = str(home / "zenml")
    os.environ["ZENML_REPOSITORY_PATH"] = str(home / "zenml")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home}/mlflow/mlflow.db"
    from mlflow import MlflowClient
    from zenml.client import Client

    return Client(), MlflowClient()


@pytest.fixture(scope="module")
def server_stopped_at_end(home: Path, port: int):
    yield
    cli("+env=dev", f"tracking.model_name={MODEL}", "pipeline=undeploy", state_dir=home)  # never leave a server behind, even on failure


def _request_rows() -> pd.DataFrame:
    """Whole orders of raw merged-table rows (real ones when ../shared is present), review columns removed."""
    real = REAL_DATA / "merged" / "olist_customers_dataset.csv.gz"
    frame, _ = load_table(real if real.exists() else SAMPLE)
    orders = frame["order_id"].drop_duplicates().iloc[:25]
    frame = frame[frame["order_id"].isin(orders)]
    frame, _ = validate_merged(frame, require_target=False)
    return frame.drop(columns=[c for c in TARGET_AND_LEAKY_COLUMNS if c in frame.columns])


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _split_payload(frame: pd.DataFrame) -> bytes:
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False, date_format="iso"))}).encode()


def _health(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status
    except (urllib.error.URLError, OSError):
        return 0


def _served(home: Path) -> dict:
    return json.loads((home / "serving" / f"{MODEL}.json").read_text())


@pytest.fixture(scope="module")
def first(home, port):
    """A first, modest model: nothing is in production yet, so it passes on the thresholds alone."""
    return run(home, port, "model=ridge")


def test_first_candidate_is_promoted_and_registered_on_both_sides(first, clients):
    zenml, mlflow_client = clients
    assert re.search(r"^promotion\s+promoted: .*no production model yet", first, re.M), first
    production = zenml.get_model_version(MODEL, "production")
    assert production.number == 1
    assert production.run_metadata["mlflow"]["registry_version"] == "1"
    version = mlflow_client.get_model_version_by_alias(MODEL, "champion")
    assert str(version.version) == "1"
    # the MLflow version points back at ZenML, the data and the code
    tags = version.tags
    assert tags["zenml_model_version_id"] == str(production.id)
    assert tags["zenml_model_version"] == "1" and tags["zenml_run_id"]
    assert len(tags["data_sha256"]) == 64 and tags["git_commit"]
    assert "model:\n  name: ridge" in tags["config"]
    # the ZenML version is linked to the run's artifacts
    assert {"model", "validated_orders", "metrics"} <= set(production.data_artifact_ids) | set(production.model_artifact_ids)


@pytest.fixture(scope="module")
def deployed(first, home, port, server_stopped_at_end):
    out = run(home, port, "pipeline=deploy")
    return out


def test_deploy_serves_the_champion_over_http(deployed, home, port):
    url = f"http://127.0.0.1:{port}"
    assert url in deployed and re.search(rf"now serving {MODEL} v1 ", deployed), deployed
    assert _health(url) == 200
    assert _served(home)["model_version"] == 1
    # serving.threads_per_worker (default 1) reaches the server's native libraries
    environ = Path(f"/proc/{_served(home)['pid']}/environ").read_bytes().split(b"\0")
    assert b"OMP_NUM_THREADS=1" in environ and b"OPENBLAS_NUM_THREADS=1" in environ
    rows = _request_rows()
    status, body = _post(f"{url}/invocations", _split_payload(rows))
    assert status == 200, body
    predictions = body["predictions"]
    assert len(predictions) == len(rows) and all(0 < p < 6 for p in predictions)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_column", "price"),
        ("wrong_type", "price"),
        ("empty_body", "JSON"),
        ("no_rows_field", "dataframe_records"),
    ],
)
def test_malformed_requests_get_4xx_and_the_server_stays_up(deployed, port, case, expected):
    url = f"http://127.0.0.1:{port}"
    rows = _request_rows().head(3)
    body = {
        "missing_column": _split_payload(rows.drop(columns=["price"])),
        "wrong_type": _split_payload(rows.astype({"price": object}).assign(price="cheap")),
        "empty_body": b"",
        "no_rows_field": b"{}",
    }[case]
    status, answer = _post(f"{url}/invocations", body)
    assert 400 <= status < 500, (status, answer)
    assert expected in answer.get("message", ""), answer
    assert _health(url) == 200


@pytest.fixture(scope="module")
def better(deployed, home, port):
    """CD with a better model: promoted over the champion (re-scored on the same rows) and redeployed."""
    pid_before = _served(home)["pid"]
    return run(home, port, "pipeline=cd"), pid_before


def test_cd_promotes_a_better_model_and_redeploys_it(better, home, port, clients):
    out, pid_before = better
    zenml, mlflow_client = clients
    assert re.search(r"^promotion\s+promoted: .*vs champion v1 .* on the same test rows", out, re.M), out
    assert re.search(rf"now serving {MODEL} v2 .*\(replaced v1\)", out), out
    served = _served(home)
    assert served["model_version"] == 2 and served["pid"] != pid_before
    assert _health(f"http://127.0.0.1:{port}") == 200
    assert zenml.get_model_version(MODEL, "production").number == 2
    assert zenml.get_model_version(MODEL, 1).stage == "archived"
    assert str(mlflow_client.get_model_version_by_alias(MODEL, "champion").version) == "2"


@pytest.fixture(scope="module")
def worse(better, home, port):
    pid_before = _served(home)["pid"]
    return run(home, port, "pipeline=cd", "model=linear_regression", "features=seed"), pid_before


def test_gate_blocks_a_worse_model_and_nothing_changes(worse, home, port, clients):
    out, pid_before = worse
    zenml, mlflow_client = clients
    line = re.search(r"^promotion\s+(.*)$", out, re.M).group(1)
    assert line.startswith("not promoted: r2 ") and " < 0.1" in line and "does not beat the champion v2" in line
    assert re.search(rf"^deploy\s+skipped: .*{MODEL} v2 keeps serving", out, re.M), out
    assert _served(home)["pid"] == pid_before and _health(f"http://127.0.0.1:{port}") == 200
    assert zenml.get_model_version(MODEL, "production").number == 2
    blocked = zenml.get_model_version(MODEL, 3)
    assert blocked.stage in (None, "none")
    assert blocked.run_metadata["promotion"]["promoted"] is False
    assert str(mlflow_client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert mlflow_client.get_model_version(MODEL, "3").tags["promotion"] == "blocked"


def test_batch_inference_writes_one_row_per_input_row(worse, home, port, tmp_path, clients):
    zenml, _ = clients
    rows = _request_rows()
    new_orders = tmp_path / "new_orders.csv"
    rows.to_csv(new_orders, index=False)
    out = run(home, port, "pipeline=inference", "dataset=olist_merged", f"dataset.path={new_orders}")
    path = Path(re.search(r"^predictions\s+(\S+)", out, re.M).group(1))
    assert path.parent == home / "outputs" / "predictions"
    predictions = pd.read_csv(path)
    assert len(predictions) == len(rows)
    assert (predictions["model_version"] == 2).all() and (predictions["registry_version"] == 2).all()
    assert list(predictions["order_id"]) == list(rows["order_id"])
    assert predictions["predicted_review_score"].between(0, 6).all()
    run_id = re.search(r"^zenml run\s+\S+ \((\S+)\)", out, re.M).group(1)
    artifact = zenml.get_pipeline_run(run_id).steps["predict"].outputs["predictions"][0].load()
    assert len(artifact) == len(rows)


def test_lineage_from_zenml_and_from_mlflow(worse, home, port, clients):
    zenml, _ = clients
    out = run(home, port, "pipeline=lineage", "model_version=2")
    version = zenml.get_model_version(MODEL, 2)
    training_run = zenml.list_pipeline_runs(model_version_id=version.id, sort_by="asc:created").items[0]
    assert f"{MODEL} v2 (stage production)" in out
    assert str(training_run.id) in out
    assert training_run.config.extra["data_sha256"] in out
    assert re.search(r"^mlflow version\s+.* version 2 aliases=\['champion'\]", out, re.M), out
    assert re.search(r"^reproduce\s+git checkout \S+ && python -m olist_pipeline \+env=dev tracking.model_name=", out, re.M)
    assert "pipeline=cd" not in re.search(r"^reproduce.*$", out, re.M).group(0)
    assert "composed config" in out and "model:\n  name: hist_gradient_boosting" in out
    from_mlflow = run(home, port, "pipeline=lineage", "model_version=mlflow:3")
    assert f"{MODEL} v3 (stage none)" in from_mlflow and "not promoted" in from_mlflow


def test_unknown_version_is_one_clear_error(first, home):
    result = cli("+env=dev", f"tracking.model_name={MODEL}", "pipeline=lineage", "model_version=99", state_dir=home)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert [l for l in result.stderr.splitlines() if l.startswith("error:")] == [
        f"error: model {MODEL!r} has no version '99'"
    ]


def test_undeploy_stops_the_server(worse, home, port):
    out = run(home, port, "pipeline=undeploy")
    assert re.search(rf"stopped the model server of {MODEL} v2 at http://127.0.0.1:{port}", out), out
    assert _health(f"http://127.0.0.1:{port}") == 0
    assert not (home / "serving" / f"{MODEL}.json").exists()
    assert "no model server is running" in run(home, port, "pipeline=undeploy")
