"""ingest (read, check against the dataset's declaration minus the target and never-feature columns) -> predict."""

from __future__ import annotations

from zenml import pipeline

from olist_pipeline.config.spec import DatasetSpec
from olist_pipeline.steps.etl import ingest
from olist_pipeline.steps.inference import predict


@pipeline(name="olist_inference")
def inference_pipeline(dataset: DatasetSpec, data_sha256: str, model_name: str, model_version: int) -> None:
    """Score new rows with one registered model version."""
    orders = ingest(dataset=dataset, data_sha256=data_sha256, require_target=False)
    predict(
        orders, model_name=model_name, model_version=model_version, id_columns=dataset.id_columns, target=dataset.target
    )
