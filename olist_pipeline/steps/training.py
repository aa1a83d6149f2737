"""train: fit the full model (preprocessing + estimator) on the training rows; log it to MLflow."""

from __future__ import annotations

from typing import Annotated

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step

from olist_pipeline.features import build_preprocessor
from olist_pipeline.models import build_estimator, build_model
from olist_pipeline.spec import FeaturesSpec, ModelSpec
from olist_pipeline.paths import PACKAGE_DIR
from olist_pipeline.splits import TRAIN
from olist_pipeline.tracking import EXTRA_CONFIG_YAML, EXTRA_PARAMS, model_pip_requirements, skops_trusted_types


@step(experiment_tracker=True)
def train(
    model_input: pd.DataFrame,
    target: pd.Series,
    partition: pd.Series,
    features: FeaturesSpec,
    model: ModelSpec,
) -> tuple[Annotated[Pipeline, "model"], Annotated[str, "mlflow_run_id"]]:
    """Fit on the `train` partition only and record the run context in MLflow."""
    rows = (partition == TRAIN).to_numpy()
    X, y = model_input.loc[rows], target.loc[rows]
    preprocessor = build_preprocessor(features.numeric, features.derived, features.categorical, impute="median")
    pipeline = build_model(preprocessor, build_estimator(model.target, model.params))
    pipeline.fit(X, y)

    context = get_step_context()
    extra = context.pipeline_run.config.extra
    run = mlflow.active_run()
    mlflow.log_params(extra.get(EXTRA_PARAMS, {}))
    mlflow.set_tags({"zenml_run_id": str(context.pipeline_run.id), "zenml_run_name": context.pipeline_run.name})
    if extra.get(EXTRA_CONFIG_YAML):
        mlflow.log_text(extra[EXTRA_CONFIG_YAML], "config/config.yaml")
    example = X.head(5)
    mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=infer_signature(example, pipeline.predict(example)),
        input_example=example,
        serialization_format="skops",
        skops_trusted_types=skops_trusted_types(pipeline),
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=model_pip_requirements(),
    )
    log_metadata({"train_rows": int(rows.sum()), "estimator": model.target, "mlflow_run_id": run.info.run_id})
    return pipeline, run.info.run_id
