"""`OLIST_SPEED=off` turns every accelerator off and changes nothing a run computes or records: the same
training run with the switch on and off gives the same metrics, params, tags, gate decision and
predictions (each in a home of its own)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SAMPLE, cli

pytestmark = pytest.mark.slow

#: Tags that name this run rather than describe it (ids, times, the home's paths).
RUN_IDENTITY_TAGS = {"mlflow.runName", "zenml_run_id", "zenml_run_name", "zenml_pipeline_run_uuid", "mlflow.source.name"}


def _field(stdout: str, label: str) -> str:
    return re.search(rf"^{label}\s+(.+)$", stdout, re.M).group(1).strip()


def _run(home: Path, switch: str) -> dict:
    env = {"OLIST_SPEED": switch}
    trained = cli("+env=dev", state_dir=home, env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    scored = cli("+env=dev", "pipeline=inference", "dataset=olist_merged", f"dataset.path={SAMPLE}",
                 f"paths.output_dir={home / 'outputs'}", state_dir=home, env=env)  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-3000:]
    predictions = pd.read_csv(next((home / "outputs" / "predictions").glob("*.csv")))

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home}/mlflow/mlflow.db")
    run = client.get_run(_field(trained.stdout, "mlflow run").split()[0])
    version = client.get_model_version("olist_review_score_dev", "1")

    def neutral(value: str) -> str:
        return value.replace(str(home), "<home>")

    return {
        "stdout": trained.stdout,
        # every metric but the timings (fit_seconds): those measure the machine, not the model
        "metrics": {k: v for k, v in run.data.metrics.items() if not k.endswith("_seconds")},
        "params": {k: neutral(v) for k, v in run.data.params.items()},
        "tags": {k: neutral(v) for k, v in run.data.tags.items() if k not in RUN_IDENTITY_TAGS and not k.startswith("mlflow.log")},
        "gate": (_field(trained.stdout, "promotion"), version.tags.get("promotion"), version.tags.get("promotion_summary")),
        "predictions": predictions,
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    return {switch: _run(tmp_path_factory.mktemp(f"speed-{switch}"), switch) for switch in ("on", "off")}


def test_the_same_metrics(runs):
    assert runs["on"]["metrics"] == runs["off"]["metrics"]
    assert {"test_rmse", "test_r2", "test_mae"} <= set(runs["on"]["metrics"])
    assert "cached steps none" in runs["on"]["stdout"] and "cached steps none" in runs["off"]["stdout"]


def test_the_same_params_and_tags(runs):
    assert runs["on"]["params"] == runs["off"]["params"]
    assert runs["on"]["tags"] == runs["off"]["tags"]
    assert runs["on"]["tags"]["data_sha256"] and runs["on"]["params"]["model.name"] == "hist_gradient_boosting"


def test_the_same_gate_decision(runs):
    assert runs["on"]["gate"] == runs["off"]["gate"]
    assert runs["on"]["gate"][1] == "promoted"


def test_the_same_predictions(runs):
    on, off = runs["on"]["predictions"], runs["off"]["predictions"]
    assert len(on) == len(off) > 0
    pd.testing.assert_frame_equal(on, off, check_exact=True)
