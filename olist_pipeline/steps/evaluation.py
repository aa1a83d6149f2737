"""evaluate: metrics and the evaluation report on the test partition, logged to MLflow and ZenML."""

from __future__ import annotations

from typing import Annotated

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step
from zenml.types import HTMLString

from olist_pipeline.config.spec import EvaluationSpec, TaskSpec
from olist_pipeline.domain.metrics import model_scores
from olist_pipeline.domain.tasks import BINARY, predict_scores


@step(experiment_tracker=True)
def evaluate(
    model: Pipeline, model_input: pd.DataFrame, target: pd.Series, partition: pd.Series, evaluation: EvaluationSpec,
    task: TaskSpec,
) -> tuple[Annotated[dict[str, float], "metrics"], Annotated[HTMLString, "evaluation_report"]]:
    """Score the held-out rows of `evaluation.split`: the test rows (never seen by training or tuning),
    or, for a hyper-parameter search, the validation rows (so the search never sees the test split)."""
    # Imported here, not at module level: a fully cached run imports this module but never runs it.
    from olist_pipeline.domain import evaluation as report

    split = evaluation.split
    rows = (partition == split).to_numpy()
    X, y = model_input.loc[rows], target.loc[rows].to_numpy()
    predictions = predict_scores(model, X, task.kind)  # the prediction, or the positive class's probability
    metrics = model_scores(y, predictions, evaluation.metrics, task.scoring(evaluation.low_score_max))
    mlflow.log_metrics({f"{split}_{name}": value for name, value in metrics.items()})
    mlflow.log_metric(f"{split}_rows", int(rows.sum()))
    log_metadata({f"{split}_metrics": metrics, f"{split}_rows": int(rows.sum())})
    log_metadata({f"{split}_metrics": metrics}, infer_model=True)  # shown on the ZenML model version

    tables: dict[str, pd.DataFrame] = {}
    figures = {}
    if evaluation.report:
        inputs = list(getattr(model, "feature_names_in_", X.columns))
        importances = report.importance(model, X, y, evaluation.permutation_repeats, evaluation.seed, task.kind, inputs)
        tables = {f"permutation importance ({split} split)": importances}
        if task.kind == BINARY:
            figures = report.binary_figures(y, predictions, task.decision_threshold, importances)
        else:
            by_delay = report.error_by_delay(X, y, predictions)
            if by_delay is not None:
                tables["error by delivery against estimate"] = by_delay
            figures = report.figures(y, predictions, by_delay, importances)
        for name, figure in figures.items():
            mlflow.log_figure(figure, f"evaluation/{name}")
        for name, table in tables.items():
            mlflow.log_text(table.to_csv(index=False), f"evaluation/{name.split(' (')[0].replace(' ', '_')}.csv")
    page = report.html_report(f"Evaluation on the {split} split", metrics, tables, figures)
    report.close_figures(figures)
    return metrics, HTMLString(page)
