"""Bring your own table and task, end to end through the real CLI, ZenML, MLflow and model server:

- the Palmer penguins (a real table nobody here made, shipped in the `palmerpenguins` package), from its
  declaration alone (conf/dataset/penguins.yaml, conf/features/penguins.yaml; no Python of its own):
  regression of body mass trained, gated (a worse candidate blocked), and the binary task (female?)
  trained, served over HTTP (probability and label) and batch-predicted;
- the Olist binary task (low_review = review_score <= 2) on the embedded sample, with its report;
- bad declarations and labels: one line naming the file, key or column, exit != 0, nothing promoted.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SAMPLE, cli

pytestmark = pytest.mark.slow

PENGUINS = ("dataset=penguins", "features=penguins")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(home: Path, *overrides: str, ok: bool = True) -> str:
    result = cli(*overrides, f"paths.output_dir={home}/outputs", state_dir=home)
    output = result.stdout + result.stderr
    if ok:
        assert result.returncode == 0, output[-4000:]
        assert "Traceback" not in output, output[-4000:]
    return output


def metric(out: str, name: str) -> float:
    return float(re.search(rf"│ {name}\s+│\s+([0-9.]+) │", out).group(1))


@pytest.fixture(scope="module")
def clients(state_dir: Path):
    from mlflow.tracking import MlflowClient
    from zenml.client import Client

    from olist_pipeline.config.compose import compose_config, compose_spec
    from olist_pipeline.stack.infra import configure_environment

    spec, _, _ = compose_spec(compose_config([f"paths.state_dir={state_dir}", *PENGUINS]))
    configure_environment(spec.stack)
    return Client(), MlflowClient(spec.stack.mlflow_tracking_uri)


@pytest.fixture(scope="module")
def penguin_regression(state_dir):
    return run(state_dir, *PENGUINS)


def test_penguins_train_from_their_declaration_alone(penguin_regression, clients):
    out = penguin_regression
    assert re.search(r"^task\s+regression of body_mass_g", out, re.M), out
    assert re.search(r"^promotion\s+promoted: r2 ", out, re.M), out
    assert metric(out, "r2") > 0.5  # measurements predict body mass well
    zenml, mlflow_client = clients
    production = zenml.get_model_version("penguins_body_mass", "production")
    assert "task regression on dataset penguins" in production.description.lower()
    run = mlflow_client.get_run(re.search(r"^mlflow run\s+(\w+)", out, re.M).group(1))
    assert run.data.tags["dataset"] == "penguins" and run.data.tags["task"] == "regression"
    assert run.data.tags["target"] == "body_mass_g"


def test_the_gate_blocks_a_worse_penguin_model(penguin_regression, state_dir, clients):
    out = run(state_dir, *PENGUINS, "model=ridge", "model.alpha=1000000")
    assert re.search(r"^promotion\s+not promoted: .*does not beat the champion v1: r2 .* on the same test rows", out, re.M), out
    zenml, mlflow_client = clients
    assert zenml.get_model_version("penguins_body_mass", "production").number == 1
    assert str(mlflow_client.get_model_version_by_alias("penguins_body_mass", "champion").version) == "1"


@pytest.fixture(scope="module")
def penguin_binary(state_dir):
    return run(state_dir, *PENGUINS, "task=binary", "model=logistic_regression", "evaluation.permutation_repeats=1")


def test_penguins_binary_task_is_its_own_registered_model(penguin_binary, clients):
    out = penguin_binary
    assert re.search(r"^task\s+binary: female \(sex == 'female'\)", out, re.M), out
    assert metric(out, "roc_auc") > 0.8 and 0 <= metric(out, "brier") < 0.25
    assert re.search(r"^promotion\s+promoted: roc_auc ", out, re.M), out
    zenml, mlflow_client = clients
    assert zenml.get_model_version("penguins_body_mass_female", "production").number == 1
    run = mlflow_client.get_run(re.search(r"^mlflow run\s+(\w+)", out, re.M).group(1))
    artifacts = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "evaluation")}
    for figure in ("roc_curve.png", "precision_recall_curve.png", "calibration_curve.png", "confusion_matrix.png"):
        assert f"evaluation/{figure}" in artifacts, artifacts
    assert run.data.tags["task"] == "binary" and run.data.tags["target"] == "sex == 'female'"


def _birds(n: int = 12) -> pd.DataFrame:
    """Rows to score: the declared feature columns only (no body mass, no sex)."""
    from importlib.resources import files

    table = pd.read_csv(files("palmerpenguins") / "data" / "penguins.csv").dropna()
    return table.sample(n, random_state=0)[["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "year"]]


def test_penguins_binary_batch_prediction_writes_probability_and_label(penguin_binary, state_dir, tmp_path):
    batch = tmp_path / "birds.csv"
    _birds().to_csv(batch, index=False)
    out = run(state_dir, *PENGUINS, "task=binary", "pipeline=inference", f"dataset.path={batch}")
    predictions = pd.read_csv(re.search(r"^predictions\s+(\S+)", out, re.M).group(1))
    assert list(predictions.columns[:3]) == ["row", "probability_female", "predicted_female"]
    assert len(predictions) == 12 and predictions["probability_female"].between(0, 1).all()
    assert (predictions["predicted_female"] == (predictions["probability_female"] >= 0.5)).all()
    assert (predictions["model_name"] == "penguins_body_mass_female").all()


def test_penguins_binary_model_is_served_with_probability_and_label(penguin_binary, state_dir):
    port = _free_port()
    deployed = run(state_dir, *PENGUINS, "task=binary", "pipeline=deploy", f"serving.port={port}")
    try:
        assert "now serving penguins_body_mass_female v1" in deployed, deployed
        body = json.dumps({"dataframe_records": _birds(3).to_dict(orient="records")}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        predictions = answer["predictions"]
        assert len(predictions) == 3
        assert all(set(p) == {"probability", "label"} and 0 <= p["probability"] <= 1 for p in predictions), answer
    finally:
        run(state_dir, *PENGUINS, "task=binary", "pipeline=undeploy")


def test_olist_low_review_on_the_sample(state_dir, clients):
    out = run(state_dir, "task=binary", "model=hist_gradient_boosting_classifier", "evaluation.report=false")
    assert re.search(r"^task\s+binary: low_review \(review_score <= 2\)", out, re.M), out
    for name in ("roc_auc", "pr_auc", "log_loss", "brier", "precision", "recall", "f1", "recall_at_top_k"):
        assert 0 <= metric(out, name) <= 1 or name == "log_loss", name
    assert metric(out, "roc_auc") > 0.7
    assert "olist_review_score_low_review v" in out


# --- bad declarations and labels --------------------------------------------------------------------


def test_a_regressor_on_the_binary_task_is_a_config_error_naming_both(state_dir):
    out = run(state_dir, "task=binary", ok=False)
    assert (
        "error: invalid configuration: model=hist_gradient_boosting: sklearn.ensemble.HistGradientBoostingRegressor "
        "is a regressor; task binary needs a classifier (task=binary)"
    ) in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["dataset.columns.price.type=decimal"], "conf/dataset/sample.yaml: dataset.columns.price.type: Input should be"),
        (["dataset.target=rating"], "conf/dataset/sample.yaml: dataset: target: ['rating'] not among the declared columns"),
        (["dataset.group_column=basket"], "dataset: group_column: ['basket'] not among the declared columns"),
        (["dataset.soft_checks=[no_such_check]"], "dataset.soft_checks: unknown soft check(s) ['no_such_check']"),
        ([*PENGUINS, "split=temporal"], "split=temporal needs a time column: dataset 'penguins' declares no time_column"),
        ([*PENGUINS, "task=binary", "task.label.column=island"], "'island' is the binary task's label (dataset 'penguins')"),
        ([*PENGUINS, "task=binary", "task.label.column=species", "task.label.positive=null", "features.categorical=[island]"], None),
    ],
)
def test_bad_declarations_are_one_clear_line(state_dir, overrides, expected):
    if expected is None:
        # three species: refused once the data is read, before training
        overrides, expected = [*overrides, "model=logistic_regression"], "label column 'species' has 3 values"
    result = cli(*overrides, state_dir=state_dir)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode != 0 and len(errors) == 1, result.stderr[-3000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["task.label.at_most=null"], "task binary: label column 'review_score' has 5 values (1, 2, 3, 4, 5), not two"),
        (["task.label.at_most=0"], "task binary: review_score <= 0 leaves the positive class empty"),
    ],
)
def test_a_label_that_is_not_binary_stops_the_run_before_training(state_dir, overrides, expected):
    out = run(state_dir, "task=binary", "model=logistic_regression", "tracking.model_name=bad_label_model", *overrides, ok=False)
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], out[-3000:]
    assert "Traceback" not in out


def test_a_table_without_its_declared_target_names_the_column(state_dir, tmp_path):
    frame = pd.read_csv(SAMPLE).drop(columns=["review_score"]).head(200)
    path = tmp_path / "no_target.csv"
    frame.to_csv(path, index=False)
    out = run(state_dir, f"dataset.path={path}", "tracking.model_name=no_target_model", ok=False)
    assert re.search(r"^error: .*no_target\.csv: missing column 'review_score'", out, re.M), out[-3000:]


def test_nothing_was_promoted_by_the_failed_runs(clients):
    zenml, _ = clients
    for name in ("bad_label_model", "no_target_model"):
        try:
            versions = zenml.list_model_versions(model_name_or_id=name)
        except KeyError:
            continue
        assert all(str(v.stage) != "production" and v.stage != "production" for v in versions)


def test_a_binary_sweep_is_ranked_by_the_tasks_primary_metric(state_dir, tmp_path):
    sweep_dir = tmp_path / "multirun"
    result = cli(
        "-m", *PENGUINS, "task=binary", "model=logistic_regression,random_forest_classifier",
        "evaluation.report=false", "promotion.enabled=false", "tracking.model_name=penguin_sweep",
        f"hydra.sweep.dir={sweep_dir}", state_dir=state_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert len(summary) == 2 and set(summary["status"]) == {"completed"}
    assert list(summary["rank"]) == [1, 2] and summary["roc_auc"].is_monotonic_decreasing  # higher is better
    assert re.search(r"sweep ranked by test roc_auc \(2 jobs\)", result.stdout), result.stdout[-2000:]


def test_lineage_names_the_dataset_and_the_task(penguin_binary, state_dir):
    out = run(state_dir, *PENGUINS, "task=binary", "pipeline=lineage", "model_version=1")
    assert re.search(r"^dataset, task\s+penguins, task binary: female \(column sex\)", out, re.M), out[-3000:]
    assert re.search(r"^test metrics\s+roc_auc [0-9.]+, pr_auc", out, re.M), out[-3000:]
