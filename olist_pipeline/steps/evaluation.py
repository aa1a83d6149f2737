"""evaluate: metrics on the test partition, logged to MLflow and to ZenML."""

from __future__ import annotations

from typing import Annotated

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step

from olist_pipeline.metrics import regression_metrics
from olist_pipeline.spec import EvaluationSpec
from olist_pipeline.splits import TEST


@step(experiment_tracker=True)
def evaluate(
    model: Pipeline, model_input: pd.DataFrame, target: pd.Series, partition: pd.Series, evaluation: EvaluationSpec
) -> Annotated[dict[str, float], "test_metrics"]:
    """Score the held-out test rows; nothing here was seen by training or tuning."""
    rows = (partition == TEST).to_numpy()
    predictions = model.predict(model_input.loc[rows])
    metrics = regression_metrics(target.loc[rows].to_numpy(), predictions, evaluation.metrics)
    mlflow.log_metrics({f"test_{name}": value for name, value in metrics.items()})
    mlflow.log_metric("test_rows", int(rows.sum()))
    log_metadata({"test_metrics": metrics, "test_rows": int(rows.sum())})
    return metrics
