"""End to end: the real CLI runs the real ZenML pipeline with the real MLflow tracker in an isolated
state folder; assertions read back what ZenML and MLflow recorded."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from olist_pipeline.domain.data.synthetic import generate_merged

from tests.conftest import SAMPLE, cli, real_file

pytestmark = pytest.mark.slow

CACHEABLE = {"ingest", "clean", "build_features", "split", "train", "evaluate"}
ALL_STEPS = CACHEABLE | {"promote"}  # the promotion gate is never cached


def _field(stdout: str, label: str) -> str:
    match = re.search(rf"^{label}\s+(\S+)", stdout, re.M)
    assert match, f"no {label!r} line in:\n{stdout}"
    return match.group(1)


def _cached(stdout: str) -> set[str]:
    line = re.search(r"^cached steps\s+(.*)$", stdout, re.M).group(1)
    if line.startswith("all"):
        return set(CACHEABLE)
    return set() if line == "none" else {s.strip() for s in line.split(",")}


@pytest.fixture(scope="module")
def zenml_client(state_dir: Path):
    """A ZenML client on the test store (imported only here, after the env points at it)."""
    os.environ["ZENML_CONFIG_PATH"] = str(state_dir / "zenml")
    os.environ["ZENML_REPOSITORY_PATH"] = str(state_dir / "zenml")
    from zenml.client import Client

    return Client()


@pytest.fixture(scope="module")
def mlflow_client(state_dir: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{state_dir}/mlflow/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    return MlflowClient(tracking_uri=uri)


@pytest.fixture(scope="module")
def first_run(state_dir: Path):
    result = cli("+env=dev", state_dir=state_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_cold_run_records_everything_in_mlflow(first_run, mlflow_client, state_dir):
    out = first_run.stdout
    assert "Traceback" not in first_run.stderr
    run = mlflow_client.get_run(_field(out, "mlflow run"))
    # the composed config, flattened into params
    params = run.data.params
    assert params["model._target_"] == "sklearn.ensemble.HistGradientBoostingRegressor"
    assert params["features.name"] == "delivery" and params["split.strategy"] == "grouped"
    assert params["cleaning.strategy"] == "impute_median" and params["env"] == "dev"
    # test metrics under their true names, in sane ranges, consistent with each other
    m = run.data.metrics
    assert set(m) >= {"test_mse", "test_rmse", "test_mae", "test_r2"}
    assert m["test_rmse"] == pytest.approx(m["test_mse"] ** 0.5)
    assert 0.15 < m["test_r2"] < 0.95 and 0.3 < m["test_mae"] < m["test_rmse"] < 1.5
    # tags: commit, data fingerprint, ZenML run id
    tags = run.data.tags
    assert tags["data_sha256"] == __import__("hashlib").sha256(SAMPLE.read_bytes()).hexdigest()
    assert tags["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", tags["git_commit"])
    assert tags["zenml_run_id"] == _field(out, "zenml run")
    # the composed config as an artifact
    config_text = (Path(mlflow_client.download_artifacts(run.info.run_id, "config/config.yaml", str(state_dir / "dl")))).read_text()
    assert "hist_gradient_boosting" in config_text and "state_dir" in config_text
    assert f"mlflow ui --backend-store-uri sqlite:///{state_dir}/mlflow/mlflow.db" in out
    # the evaluation report: breakdown metrics and plots
    assert 0.0 <= m["test_low_score_recall"] <= 1.0 and "test_mae_score_1" in m
    logged = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/predicted_vs_actual.png", "evaluation/permutation_importance.png"} <= logged


def test_logged_model_predicts_from_raw_rows(first_run, mlflow_client):
    import mlflow

    run_id = _field(first_run.stdout, "mlflow run")
    model_uri = f"runs:/{run_id}/model"
    model = mlflow.pyfunc.load_model(model_uri)
    signature_inputs = set(model.metadata.get_input_schema().input_names())
    assert {"order_id", "order_delivered_customer_date", "price"} <= signature_inputs
    raw = generate_merged(30, seed=99)  # unseen raw rows, all 36 columns; the model picks its own
    predictions = model.predict(raw)
    assert len(predictions) == len(raw)
    assert ((predictions > -1) & (predictions < 7)).all()


def test_zenml_records_step_parameters(first_run, zenml_client):
    run = zenml_client.get_pipeline_run(_field(first_run.stdout, "zenml run"))
    assert set(run.steps) == ALL_STEPS
    train_params = run.steps["train"].config.parameters
    assert train_params["model"]["target"] == "sklearn.ensemble.HistGradientBoostingRegressor"
    assert run.steps["clean"].config.parameters["cleaning"]["strategy"] == "impute_median"
    assert run.steps["split"].config.parameters["split"]["strategy"] == "grouped"
    assert run.steps["ingest"].config.parameters["data_sha256"] == run.config.extra["data_sha256"]
    # ingest reads and checks: one stored table, and the schema check's report in its metadata
    ingest = run.steps["ingest"]
    assert set(ingest.outputs) == {"validated_orders"}
    assert ingest.run_metadata["validation"]["rows"] == ingest.run_metadata["rows"] > 0
    page = run.steps["evaluate"].outputs["evaluation_report"][0].load()
    assert page.count("data:image/png;base64,") == 4


def test_identical_second_run_is_answered_from_the_first(first_run, state_dir, zenml_client):
    runs_before = zenml_client.list_pipeline_runs().total
    again = cli("+env=dev", state_dir=state_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "identical to an earlier run" in again.stdout and _cached(again.stdout) == CACHEABLE
    for label in ("zenml run", "mlflow run", "model version"):
        assert _field(again.stdout, label) == _field(first_run.stdout, label)
    assert zenml_client.list_pipeline_runs().total == runs_before  # no new ZenML run, no new version


def test_identical_run_without_reuse_is_fully_cached_by_zenml(first_run, state_dir):
    again = cli("+env=dev", "pipeline.reuse_identical_run=false", state_dir=state_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "identical to an earlier run" not in again.stdout
    assert _cached(again.stdout) == CACHEABLE
    # results are those of the run that computed them; a new ZenML run records the re-run
    assert _field(again.stdout, "mlflow run") == _field(first_run.stdout, "mlflow run")
    assert _field(again.stdout, "zenml run") != _field(first_run.stdout, "zenml run")


def test_identical_run_after_the_champion_changed_runs_the_gate_again(first_run, state_dir, zenml_client):
    name = "olist_review_score_dev"
    production = zenml_client.get_model_version(name, "production")
    zenml_client.update_model_version(name, production.id, stage="archived")  # e.g. a person demoted it
    again = cli("+env=dev", state_dir=state_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "identical to an earlier run" not in again.stdout  # the gate's input changed: ZenML runs
    assert _cached(again.stdout) == CACHEABLE
    assert re.search(r"^promotion\s+promoted: .*no production model yet", again.stdout, re.M), again.stdout
    # and the new outcome is what an identical run now answers with
    third = cli("+env=dev", state_dir=state_dir)
    assert "identical to an earlier run" in third.stdout
    assert _field(third.stdout, "zenml run") == _field(again.stdout, "zenml run")


def test_changing_only_the_model_reuses_the_data_steps(first_run, state_dir, mlflow_client):
    ridge = cli("+env=dev", "model=ridge", "model.alpha=3", state_dir=state_dir)
    assert ridge.returncode == 0, ridge.stderr[-3000:]
    assert _cached(ridge.stdout) == {"ingest", "clean", "build_features", "split"}
    params = mlflow_client.get_run(_field(ridge.stdout, "mlflow run")).data.params
    assert params["model.alpha"] == "3" and params["model.name"] == "ridge"


def test_changed_bytes_at_the_same_path_rerun_ingest(state_dir, tmp_path):
    data = tmp_path / "orders.csv"
    generate_merged(600, seed=1).to_csv(data, index=False)
    first = cli(f"dataset.path={data}", "model=linear_regression", state_dir=state_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "ingest" not in _cached(first.stdout)
    generate_merged(600, seed=2).to_csv(data, index=False)  # same path, new bytes
    second = cli(f"dataset.path={data}", "model=linear_regression", state_dir=state_dir)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _cached(second.stdout) == set()
    assert _field(second.stdout, "data").endswith(str(data))


# --- bad input: one clear line, exit != 0, nothing cached as good -----------------------------------
def _bad_run(state_dir: Path, path: Path) -> tuple[str, int]:
    result = cli(f"dataset.path={path}", "model=linear_regression", state_dir=state_dir)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr[-3000:]
    return error_lines[0], result.returncode


def test_not_a_csv_file(state_dir, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(bytes(range(256)) * 50)
    line, code = _bad_run(state_dir, path)
    assert code != 0 and f"{path}: not a CSV text file" in line


def test_missing_required_columns(state_dir, tmp_path):
    path = tmp_path / "orders.csv"
    generate_merged(100, seed=3).drop(columns=["price", "freight_value"]).to_csv(path, index=False)
    line, code = _bad_run(state_dir, path)
    assert code != 0 and "missing column" in line and "'price'" in line and "'freight_value'" in line


def test_wrong_dtypes_fail_and_leave_nothing_cached(state_dir, tmp_path, zenml_client, mlflow_client):
    path = tmp_path / "orders.csv"
    frame = generate_merged(100, seed=4).astype({"payment_value": object})
    frame.loc[3, "payment_value"] = "twelve"
    frame.to_csv(path, index=False)
    line, code = _bad_run(state_dir, path)
    assert code != 0 and "'payment_value'" in line and "'twelve'" in line
    failed = zenml_client.list_pipeline_runs(sort_by="desc:created", size=1).items[0]
    assert failed.status.value == "failed"
    assert failed.steps["ingest"].status.value == "failed"
    assert "train" not in failed.steps  # no model was produced, so nothing could be promoted
    # A later run must not treat the failed validation as good: it fails again, the same way.
    line_again, code_again = _bad_run(state_dir, path)
    assert code_again != 0 and line_again == line


def test_kaggle_folder_end_to_end(state_dir, tmp_path, mlflow_client, zenml_client):
    from tests.domain.test_kaggle import write_kaggle_folder

    folder = write_kaggle_folder(tmp_path / "kaggle", generate_merged(500, seed=6))
    result = cli("dataset=olist_kaggle", f"dataset.path={folder}", "model=linear_regression", state_dir=state_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    run = mlflow_client.get_run(_field(result.stdout, "mlflow run"))
    assert run.data.tags["dataset"] == "olist_kaggle" and run.data.params["dataset.format"] == "kaggle_folder"
    ingest = zenml_client.get_pipeline_run(_field(result.stdout, "zenml run")).steps["ingest"]
    assert ingest.run_metadata["join"]["rows_out"] == ingest.outputs["validated_orders"][0].load().shape[0]


@pytest.mark.real_data
def test_real_merged_table_end_to_end(state_dir):
    real = real_file("merged", "olist_customers_dataset.csv.gz")
    result = cli("dataset=olist_merged", f"dataset.path={real}", "features=delivery", state_dir=state_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    r2 = float(re.search(r"│ r2\s+│\s+(-?[0-9.]+)", result.stdout).group(1))
    assert r2 > 0.1, result.stdout


def test_stack_setup_is_idempotent(tmp_path):
    """`make setup`/`make stack`: the first call registers and activates, the second changes nothing."""
    import subprocess
    import sys

    def setup() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "olist_pipeline.app.setup", f"paths.state_dir={tmp_path}"],
            capture_output=True, text=True, timeout=300, cwd="/", env={**os.environ, "COLUMNS": "200"},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    first = setup()
    assert "registered stack 'olist_local'" in first and "activated stack 'olist_local'" in first
    assert "nothing to do" in setup()
