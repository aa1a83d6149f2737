"""ingest (read and check) -> clean -> build features -> split -> train -> evaluate -> promote."""

from __future__ import annotations

from zenml import pipeline

from olist_pipeline.domain.features import input_columns
from olist_pipeline.config.spec import (
    CleaningSpec,
    DatasetSpec,
    EvaluationSpec,
    FeaturesSpec,
    ModelSpec,
    PromotionSpec,
    SplitSpec,
    TaskSpec,
)
from olist_pipeline.steps.etl import clean, ingest
from olist_pipeline.steps.evaluation import evaluate
from olist_pipeline.steps.features import build_features
from olist_pipeline.steps.promotion import promote
from olist_pipeline.steps.split import split as split_rows
from olist_pipeline.steps.training import train


@pipeline(name="olist_training")
def training_pipeline(
    dataset: DatasetSpec,
    task: TaskSpec,
    data_sha256: str,
    cleaning: CleaningSpec,
    features: FeaturesSpec,
    split: SplitSpec,
    model: ModelSpec,
    evaluation: EvaluationSpec,
    promotion: PromotionSpec,
    model_name: str,
) -> None:
    """Train one model on one declared dataset for one task with one configuration, then gate it against
    the champion."""
    validated = ingest(dataset=dataset, data_sha256=data_sha256)
    columns = input_columns(
        features.numeric, features.derived, features.categorical, features.datetime_parts, features.fitted
    )
    label_column = task.binary_label(dataset.target).column if task.kind == "binary" else dataset.target
    cleaned = clean(validated, cleaning=cleaning, feature_columns=columns, target=label_column)
    model_input, target = build_features(
        cleaned, features=features, dataset=dataset, task=task, split_columns=split.needs_columns
    )
    partition = split_rows(model_input, split=split)
    fitted, mlflow_run_id, registry_version = train(
        model_input, target, partition, features=features, model=model, task=task,
        group_column=dataset.group_column, model_name=model_name,
    )  # fmt: skip
    metrics, _ = evaluate(fitted, model_input, target, partition, evaluation=evaluation, task=task)
    promote(
        fitted,
        cleaned,
        target,
        partition,
        metrics,
        registry_version,
        mlflow_run_id,
        promotion=promotion,
        evaluation=evaluation,
        task=task,
    )
