"""train: fit the full model (preprocessing + estimator) on the training rows; log and register it in MLflow."""

from __future__ import annotations

import time
from typing import Annotated

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import ArtifactConfig, get_step_context, log_metadata, step
from zenml.enums import ArtifactType

from olist_pipeline.domain.features import build_preprocessor
from olist_pipeline.domain.models import build_estimator, build_model
from olist_pipeline.config.spec import FeaturesSpec, ModelSpec, TaskSpec
from olist_pipeline.stack.registry import MLFLOW_METADATA_KEY, MODEL_ARTIFACT, register_candidate
from olist_pipeline.domain.splits import TRAIN
from olist_pipeline.stack.tracking import EXTRA_CONFIG_YAML, EXTRA_PARAMS, log_trained_model


@step(experiment_tracker=True)
def train(
    model_input: pd.DataFrame,
    target: pd.Series,
    partition: pd.Series,
    features: FeaturesSpec,
    model: ModelSpec,
    task: TaskSpec,
    group_column: str | None,
    model_name: str,
) -> tuple[
    Annotated[Pipeline, ArtifactConfig(name=MODEL_ARTIFACT, artifact_type=ArtifactType.MODEL)],
    Annotated[str, "mlflow_run_id"],
    Annotated[str, "registry_version"],
]:
    """Fit on the `train` partition only (a regressor or a classifier, as `task` asks), log the model to MLflow and register it as a new version of
    the run's model, each side pointing at the other. `model_name` (the pipeline's ZenML Model) is a
    parameter so that a cached fit is never reused under another registered model."""
    rows = (partition == TRAIN).to_numpy()
    X, y = model_input.loc[rows], target.loc[rows]
    preprocessor = build_preprocessor(
        features.numeric, features.derived, features.categorical, impute="median",
        datetime_parts=features.datetime_parts, fitted=features.fitted,
    )  # fmt: skip
    pipeline = build_model(
        preprocessor, build_estimator(model.target, model.params, task.kind), task.kind, group_column,
        task.decision_threshold, task.output_name,
    )  # fmt: skip
    started = time.perf_counter()
    pipeline.fit(X, y)
    fit_seconds = time.perf_counter() - started

    context = get_step_context()
    extra = context.pipeline_run.config.extra
    run = mlflow.active_run()
    mlflow.log_params(extra.get(EXTRA_PARAMS, {}))
    mlflow.log_metric("fit_seconds", fit_seconds)
    mlflow.set_tags({"zenml_run_id": str(context.pipeline_run.id), "zenml_run_name": context.pipeline_run.name})
    if extra.get(EXTRA_CONFIG_YAML):
        mlflow.log_text(extra[EXTRA_CONFIG_YAML], "config/config.yaml")
    logged = log_trained_model(pipeline, X.head(5))
    zenml_model = context.model
    if zenml_model.name != model_name:
        raise ValueError(f"train: model_name {model_name!r} differs from the pipeline's ZenML Model {zenml_model.name!r}")
    mlflow_side = register_candidate(logged.model_uri, zenml_model, context.pipeline_run, run, extra)
    log_metadata({MLFLOW_METADATA_KEY: mlflow_side}, infer_model=True)
    log_metadata(
        {
            "train_rows": int(rows.sum()), "estimator": model.target, "task": task.kind,
            "mlflow_run_id": run.info.run_id, "fit_seconds": fit_seconds,
        }  # fmt: skip
    )
    return pipeline, run.info.run_id, mlflow_side["registry_version"]
